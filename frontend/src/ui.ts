// Pieces every page uses: badges, the event summary, and action buttons and forms that show
// the server's answer. All user text goes through text nodes (see dom.ts).

import { errorText } from "./api";
import { h } from "./dom";
import { CAME_BACK, EVENT_STATUS, label } from "./labels";
import { fmtShort } from "./time";
import type { Assignment, Card } from "./types";

export const statusBadge = (status: string) =>
  h("span", { class: `badge status-${status}`, testid: "status", "data-status": status }, label(EVENT_STATUS, status));

export const urgentBadge = (urgent: boolean) => (urgent ? h("span", { class: "badge badge-urgent" }, "紧急") : null);

export const eventLink = (id: number) =>
  h("a", { href: `#/event/${id}`, class: "event-link", testid: "event-link", "data-event-id": id }, `#${id}`);

export const placeOf = (c: Pick<Card, "township_name" | "village_name" | "grid_name">) =>
  [c.township_name, c.village_name, c.grid_name].filter(Boolean).join(" · ") || "未定位";

/** The head of an event card: link, status, urgency, where, what, when. */
export function cardHead(c: Card): HTMLElement {
  return h(
    "div",
    { class: "card-head" },
    h("div", { class: "card-line" }, eventLink(c.id), statusBadge(c.status), urgentBadge(c.urgent),
      h("span", { class: "muted" }, fmtShort(c.received_at))),
    h("div", { class: "card-where" }, placeOf(c)),
    h("div", { class: "card-matter" }, c.matter_name ? `${c.matter_name}${c.platform_name ? `（${c.platform_name}）` : ""}` : "事项未定"),
    h("div", { class: "card-desc", testid: "description" }, c.description),
    c.address ? h("div", { class: "muted" }, `地址：${c.address}`) : null,
  );
}

/** Why a part came back to its department (核查不通过 / 回访不满意 / 退回被驳回), or null. */
export function cameBackLine(a: Pick<Assignment, "came_back">): HTMLElement | null {
  const back = a.came_back;
  if (!back) return null;
  const who = back.kind === "return_refused" ? "县指挥中心理由" : back.kind === "reopened" ? "回访意见" : "核查意见";
  const rating = back.kind === "reopened" && back.rating ? `（评分 ${back.rating} 分）` : "";
  return h("div", { class: `came-back came-back-${back.kind}`, testid: "came-back", "data-kind": back.kind },
    h("b", null, `${label(CAME_BACK, back.kind)}${rating}`), h("span", { class: "muted" }, ` ${fmtShort(back.at)}`),
    back.note ? h("div", { testid: "came-back-note" }, `${who}：${back.note}`) : null);
}

/** A message line under a form or page: info, error or ok. */
export function note(testid: string): { el: HTMLElement; show(text: string, kind?: "info" | "error" | "ok"): void; clear(): void } {
  const el = h("div", { class: "note", testid, role: "status", hidden: true });
  return {
    el,
    show(text, kind = "info") {
      el.textContent = text;
      el.className = `note note-${kind}`;
      el.dataset.kind = kind;
      el.hidden = false;
    },
    clear() {
      el.textContent = "";
      el.hidden = true;
    },
  };
}

/** A button that runs an action once at a time and shows its error next to it. */
export function actionButton(text: string, testid: string, run: () => Promise<unknown>, cls = "btn"): HTMLElement {
  const msg = note(`${testid}-error`);
  const button = h("button", { type: "button", class: cls, testid }, text);
  button.addEventListener("click", async () => {
    button.disabled = true;
    msg.clear();
    try {
      await run();
    } catch (err) {
      msg.show(errorText(err), "error");
    } finally {
      button.disabled = false;
    }
  });
  return h("span", { class: "action" }, button, msg.el);
}

export interface Field {
  name: string;
  label: string;
  kind?: "text" | "textarea" | "select";
  required?: boolean;
  options?: { value: string; label: string }[];
  placeholder?: string;
  /** A control built by the caller (e.g. cascading selects); it gets the name and testid. */
  control?: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
}

export interface FormSpec {
  testid: string;
  submit: string;
  fields: Field[];
  /** A Chinese message when the values cannot be sent, else null. */
  check?: (values: Record<string, string>) => string | null;
  run: (values: Record<string, string>) => Promise<unknown>;
  danger?: boolean;
}

/** A form hidden behind a toggle button; fields get data-testid="{testid}-{name}". */
export function actionForm(toggleText: string, toggleTestid: string, spec: FormSpec): HTMLElement {
  const msg = note(`${spec.testid}-error`);
  const controls = new Map<string, HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>();
  const form = h("form", { class: "action-form", testid: spec.testid, hidden: true, novalidate: true });
  for (const f of spec.fields) {
    const attrs = { name: f.name, testid: `${spec.testid}-${f.name}`, placeholder: f.placeholder ?? "", required: !!f.required };
    let control: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;
    if (f.control) {
      control = f.control;
      control.name = f.name;
      control.dataset.testid = attrs.testid;
    } else if (f.kind === "textarea") control = h("textarea", { ...attrs, rows: 3, maxlength: 2000 });
    else if (f.kind === "select") {
      control = h("select", attrs, (f.options ?? []).map((o) => h("option", { value: o.value }, o.label)));
    } else control = h("input", { ...attrs, type: "text", maxlength: 200 });
    controls.set(f.name, control);
    form.append(h("label", { class: "field" }, h("span", null, f.label, f.required ? h("em", null, " *") : null), control));
  }
  const submit = h("button", { type: "submit", class: spec.danger ? "btn btn-danger" : "btn btn-primary", testid: `${spec.testid}-submit` }, spec.submit);
  const cancel = h("button", { type: "button", class: "btn btn-plain" }, "取消");
  form.append(msg.el, h("div", { class: "form-buttons" }, submit, cancel));
  const toggle = h("button", { type: "button", class: spec.danger ? "btn btn-danger-outline" : "btn", testid: toggleTestid }, toggleText);
  const setOpen = (open: boolean) => {
    form.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) (controls.values().next().value as HTMLElement | undefined)?.focus();
  };
  toggle.addEventListener("click", () => setOpen(form.hidden !== false));
  cancel.addEventListener("click", () => setOpen(false));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const values: Record<string, string> = {};
    for (const [name, c] of controls) values[name] = c.value.trim();
    const missing = spec.fields.find((f) => f.required && !values[f.name]);
    const problem = missing ? `请填写${missing.label}` : (spec.check?.(values) ?? null);
    if (problem) {
      msg.show(problem, "error");
      return;
    }
    submit.disabled = true;
    msg.clear();
    try {
      await spec.run(values);
      form.reset();
      setOpen(false);
    } catch (err) {
      msg.show(errorText(err), "error");
    } finally {
      submit.disabled = false;
    }
  });
  return h("div", { class: "action-wrap" }, toggle, form);
}

/** Fill a select's options (keeping the chosen value when it still exists). */
export function setOptions(select: HTMLSelectElement, options: { value: string; label: string }[]): void {
  const chosen = select.value;
  select.replaceChildren(...options.map((o) => h("option", { value: o.value }, o.label)));
  if (options.some((o) => o.value === chosen)) select.value = chosen;
}

export function section(title: string, testid: string, ...children: (Node | null)[]): HTMLElement {
  return h("section", { class: "panel", testid }, h("h2", null, title), ...children);
}
