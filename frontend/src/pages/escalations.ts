// 乡呼县应: the township calls the county in on its own open platform part (a reason form, on
// the township board and on the event page); the county board's 乡呼待响应 panel answers by a
// named county department or by the list (按清单分派). While a call waits, a 乡呼 badge shows.

import { api, getDepartments } from "../api";
import type { components } from "../api-types";
import { debounce, fill, h, reconcile, type Row } from "../dom";
import { ASSIGNMENT_ROLE, label } from "../labels";
import { may } from "../permissions";
import { countdown, fmtDuration, fmtShort, parseTime } from "../time";
import type { Assignment, Card, Department, User } from "../types";
import { actionButton, actionForm, eventLink } from "../ui";

export type Escalation = components["schemas"]["EscalationPublic"];
type Escalations = components["schemas"]["EscalationsPublic"];

const ESCALATABLE = new Set(["pending", "signed"]);

/** Whether the user reads escalations at all (the centre, the staffing office, a township). */
const readsEscalations = (user: User) =>
  may("escalate") || may("answer_escalation") || user.role === "staffing_office";

const listWaiting = (query = "") => api<Escalations>(`/api/escalations?status=waiting${query}`).then((r) => r.data);

/** The 乡呼 badge: a call waits for the county. */
export const escalationBadge = (e: Pick<Escalation, "respond_by">) =>
  h("span", { class: "badge badge-escalated", testid: "escalation-badge", title: `请县级部门于 ${fmtShort(e.respond_by)} 前签收` }, "乡呼");

/** The reason form: the township calls the county in on the event's own platform part. */
export function escalateForm(eventId: number, onDone: () => void): HTMLElement {
  return h("div", { class: "actions" }, actionForm("乡呼县应", "escalate-toggle", {
    testid: "escalate-form",
    submit: "呼叫县级响应",
    fields: [{ name: "reason", label: "乡呼理由", kind: "textarea", required: true, placeholder: "说明乡镇为何无法自行处置，需要哪方面的县级力量" }],
    run: async (v) => {
      await api(`/api/events/${eventId}/escalate`, { method: "POST", json: { reason: v.reason } });
      onDone();
    },
  }));
}

/** The township's own platform departments (the parts it may escalate). */
function ownPlatforms(user: User): Promise<Set<number>> {
  return getDepartments().then((ds) => new Set(ds
    .filter((d) => d.kind === "township_platform" && d.township_code === user.township_code)
    .map((d) => d.id)));
}

/**
 * The event page's piece: a 乡呼 badge while a call waits, and the 乡呼县应 form on the
 * township operator's own open platform part. `refresh` reloads the waiting calls.
 */
export function eventEscalation(user: User, eventId: number, rerender: () => void) {
  let waiting: Escalation[] = [];
  let platforms = new Set<number>();
  const forms = new Map<number, HTMLElement>();
  const reads = readsEscalations(user);
  const refresh = debounce(() => {
    if (!reads) return;
    listWaiting(`&event_id=${eventId}`).then((w) => {
      waiting = w;
      rerender();
    }).catch(() => undefined);
  }, 300);
  if (may("escalate")) ownPlatforms(user).then((p) => {
    platforms = p;
    rerender();
  }).catch(() => undefined);
  refresh();
  return {
    refresh,
    cancel: () => refresh.cancel(),
    badge: () => (waiting.length ? escalationBadge(waiting[0]) : null),
    forPart(a: Assignment): HTMLElement | null {
      const call = waiting.find((e) => e.assignment_id === a.id);
      if (call) return h("div", { class: "small", testid: "escalation-waiting" }, escalationBadge(call), ` 已乡呼县应：${call.reason}`);
      if (!may("escalate") || !platforms.has(a.department_id) || !ESCALATABLE.has(a.status)) return null;
      let form = forms.get(a.id);
      if (!form) forms.set(a.id, (form = escalateForm(eventId, refresh)));
      return form;
    },
  };
}

interface OwnPart {
  a: Assignment;
  card: Card;
}

/** The township board's 乡呼县应 panel: its own open platform parts, each with the form or its waiting call. */
export function townshipEscalations(user: User) {
  const calls = may("escalate");
  const list = h("div", { class: "list", testid: "township-escalations" });
  const empty = h("p", { class: "muted" }, "暂无可乡呼的任务");
  const el = h("section", { class: "panel", testid: "township-escalation-panel", hidden: !calls }, h("h2", null, "乡呼县应"), list, empty);
  let platforms = new Set<number>();
  let waiting: Escalation[] = [];
  let cards: Card[] = [];
  const show = () => {
    const parts: OwnPart[] = cards.flatMap((card) => card.assignments
      .filter((a) => platforms.has(a.department_id) && ESCALATABLE.has(a.status))
      .map((a) => ({ a, card })));
    parts.sort((x, y) => x.card.id - y.card.id);
    reconcile(list, parts, (p) => String(p.a.id), partRow);
    empty.hidden = parts.length > 0;
  };
  const refresh = debounce(() => {
    if (!calls) return;
    listWaiting().then((w) => {
      waiting = w;
      show();
    }).catch(() => undefined);
  }, 300);
  const partRow = (first: OwnPart): Row<OwnPart> => {
    const info = h("div");
    const state = h("div");
    const form = escalateForm(first.card.id, refresh);
    const row = h("article", { class: "item", testid: `escalate-part-${first.a.id}`, "data-event-id": first.card.id }, info, state, form);
    return {
      el: row,
      update(p) {
        const call = waiting.find((e) => e.assignment_id === p.a.id);
        fill(info, h("div", { class: "card-line" }, eventLink(p.card.id), h("span", { class: `badge role-${p.a.role}` }, label(ASSIGNMENT_ROLE, p.a.role)),
          h("span", null, p.card.matter_name ?? "事项未定")), h("div", { class: "card-desc small" }, p.card.description));
        fill(state, call ? [escalationBadge(call), h("span", { class: "small" }, ` 已呼叫，等待县级响应（${fmtShort(call.called_at)}）`)] : null);
        row.dataset.escalated = call ? "waiting" : "";
        form.hidden = !!call || !may("escalate");
      },
    };
  };
  if (may("escalate")) ownPlatforms(user).then((p) => {
    platforms = p;
    show();
  }).catch(() => undefined);
  return {
    el,
    /** Called on each board render: the cards, and a reload of the waiting calls. */
    update(next: Card[]) {
      cards = next;
      show();
      refresh();
    },
    stop: () => refresh.cancel(),
  };
}

/** The county board's 乡呼待响应 panel: each waiting call, answered by a department or by the list. */
export function waitingEscalations(user: User) {
  const reads = readsEscalations(user);
  const answers = may("answer_escalation");
  const list = h("div", { class: "list", testid: "escalation-queue" });
  const empty = h("p", { class: "muted" }, "暂无乡呼");
  const el = h("section", { class: "panel", testid: "escalation-panel", hidden: !reads }, h("h2", null, "乡呼待响应"), list, empty);
  let departments: Department[] = [];
  let rows: Escalation[] = [];
  const show = () => {
    reconcile(list, rows, (e) => String(e.id), waitingRow);
    empty.hidden = rows.length > 0;
  };
  const refresh = debounce(() => {
    if (!reads) return;
    listWaiting().then((w) => {
      rows = w.sort((x, y) => x.id - y.id);
      show();
    }).catch(() => undefined);
  }, 300);
  if (answers) getDepartments().then((ds) => {
    departments = ds.filter((d) => d.kind !== "township_platform");
    list.querySelectorAll<HTMLSelectElement>("select[name=department_id]").forEach(fillDepartments);
  }).catch(() => undefined);
  const fillDepartments = (select: HTMLSelectElement) => {
    if (select.options.length > 1) return;
    select.append(...departments.map((d) => h("option", { value: String(d.id) }, d.name)));
  };
  const answer = (e: Escalation, json: unknown) =>
    api(`/api/escalations/${e.id}/answer`, { method: "POST", json }).then(() => refresh());
  const waitingRow = (first: Escalation): Row<Escalation> => {
    let call = first;
    const info = h("div");
    const select = h("select", { name: "department_id" }, h("option", { value: "" }, "（选择县级部门）"));
    fillDepartments(select);
    const el = h("article", { class: "item", testid: `escalation-${first.id}`, "data-event-id": first.event_id, "data-escalation-id": first.id }, info,
      h("div", { class: "actions", hidden: !answers },
        actionForm("指定部门响应", "answer-toggle", {
          testid: "answer-form",
          submit: "移交该部门",
          fields: [{ name: "department_id", label: "承接的县级部门", control: select, required: true }],
          run: (v) => answer(call, { department_id: Number(v.department_id) }),
        }),
        actionButton("按清单分派", "answer-by-list", () => answer(call, { by_list: true }), "btn btn-primary")));
    return {
      el,
      update(e) {
        call = e;
        const since = Date.now() - (parseTime(e.called_at) ?? Date.now());
        fill(info,
          h("div", { class: "card-line" }, eventLink(e.event_id), escalationBadge(e), h("span", null, e.township_name ?? "未定位"),
            h("span", { class: "muted" }, label(ASSIGNMENT_ROLE, e.role))),
          h("div", { testid: "escalation-reason" }, `乡呼理由：${e.reason}`),
          e.event_description ? h("div", { class: "card-desc small muted" }, e.event_description) : null,
          h("div", { class: "small" }, h("span", { testid: "escalation-since" }, `已呼叫 ${fmtDuration(since)}`), "　",
            countdown("响应", e.respond_by, e.called_at)));
      },
    };
  };
  refresh();
  return { el, refresh, stop: () => refresh.cancel() };
}

/** The events list: a 乡呼 badge on each row whose event has a call waiting (rows carry data-event-id). */
export function markEscalated(body: HTMLElement, user: User): void {
  if (!readsEscalations(user)) return;
  listWaiting().then((w) => {
    for (const e of w) {
      const cell = body.querySelector(`tr[data-event-id="${e.event_id}"] td:nth-child(2)`);
      if (cell && !cell.querySelector("[data-testid=escalation-badge]")) cell.append(" ", escalationBadge(e));
    }
  }).catch(() => undefined);
}
