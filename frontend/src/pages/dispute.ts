// 争议与裁定: the county board's 争议待裁定 panel, the event page's dispute line (with 发起争议
// for the centre), and the dispute page #/dispute/{id}: each side's return and the clause it
// cited, the matter's list entry, and the centre's ruling form (with an optional 清单调整).

import { api, errorText, getDepartments, getUser } from "../api";
import type { components } from "../api-types";
import { debounce, fill, h } from "../dom";
import { ASSIGNMENT_ROLE, EVENT_STATUS, label } from "../labels";
import type { PageCtx } from "../page";
import { may } from "../permissions";
import { fmtFull, fmtShort } from "../time";
import type { Department, EventDetail } from "../types";
import { actionForm, eventLink, note, section } from "../ui";

type Schemas = components["schemas"];
type DisputeDetail = Schemas["DisputeDetail"];
type DisputeSummary = Schemas["DisputePublic"];
type DisputeList = Schemas["DisputesPublic"];
type ListEntry = Schemas["ListEntryPublic"];

const KINDS: Record<string, string> = {
  move_lead: "调整牵头部门",
  add_co: "增加配合部门",
  add_keywords: "增加关键词",
  new_matter: "新增事项",
};
const CHANGE_STATUS: Record<string, string> = {
  pending: "待编办审核",
  accepted: "已纳入草案",
  rejected: "未采纳",
  published: "已发布",
};

export const disputeLink = (id: number, text = `争议 #${id}`) =>
  h("a", { href: `#/dispute/${id}`, testid: "dispute-link", "data-dispute-id": id }, text);

function summaryRow(d: DisputeSummary): HTMLElement {
  return h("article", { class: "item", testid: `dispute-${d.id}`, "data-dispute-id": d.id, "data-event-id": d.event_id },
    h("div", { class: "card-line" }, disputeLink(d.id), eventLink(d.event_id),
      h("span", { class: "badge" }, d.trigger_label), h("span", { class: "muted" }, fmtShort(d.opened_at))),
    h("div", { class: "card-matter" }, d.matter_name ?? "事项未定", " · ", d.township_name ?? ""),
    h("div", { class: "card-desc" }, d.event_description),
    h("div", { testid: "dispute-parties" }, h("span", { class: "muted" }, "争议各方："), d.party_names.join("、") || "—"));
}

/** The county board's panel 争议待裁定: open disputes, refreshed as the board moves. */
export function openDisputesPanel(alive: () => boolean): { el: HTMLElement; refresh: () => void } {
  const list = h("div", { class: "list", testid: "dispute-queue" });
  const empty = h("p", { class: "muted" }, "暂无争议");
  const load = () =>
    api<DisputeList>("/api/disputes?status=open").then((r) => {
      if (!alive()) return;
      fill(list, r.items.map(summaryRow));
      empty.hidden = r.items.length > 0;
    }).catch(() => undefined);
  const refresh = debounce(load, 800);
  load();
  return { el: section("争议待裁定", "disputes-panel", list, empty), refresh };
}

/** The event page's line about its dispute, and 发起争议 for the centre. */
export function eventDisputeSection(eventId: number, alive: () => boolean): { el: HTMLElement; update: (d: EventDetail) => void } {
  const line = h("div", { testid: "event-dispute" });
  const canOpen = may("open_dispute");
  const opener = canOpen
    ? actionForm("发起争议", "open-dispute-toggle", {
      testid: "open-dispute-form",
      submit: "确认发起",
      fields: [{ name: "reason", label: "发起理由", kind: "textarea", required: true, placeholder: "如：牵头与协办部门对职责有异议" }],
      run: (v) => api<DisputeDetail>(`/api/events/${eventId}/dispute`, { method: "POST", json: { reason: v.reason } }).then((d) => {
        location.hash = `#/dispute/${d.id}`;
      }),
    })
    : null;
  const el = h("section", { class: "panel", testid: "event-dispute-panel", hidden: true }, h("h2", null, "争议"), line, opener);
  let lastStatus = "";
  // Townships and grid workers do not read disputes: ask only for those who may.
  const reads = ["command_centre", "admin", "staffing_office", "department_staff"].includes(getUser()?.role ?? "");
  const load = () => !reads ? undefined :
    api<DisputeList>(`/api/disputes?event_id=${eventId}`).then((r) => {
      if (!alive()) return;
      const open = r.items.find((d) => d.status === "open");
      fill(line, r.items.length
        ? r.items.map((d) => h("div", { class: "card-line" }, disputeLink(d.id), h("span", { class: "badge" }, d.status_label),
          h("span", { class: "muted" }, d.trigger_label), d.minutes_ref ? h("span", null, `纪要号 ${d.minutes_ref}`) : null))
        : h("p", { class: "muted" }, "无争议"));
      if (opener) opener.hidden = !!open || !["dispatched", "in_progress", "reopened"].includes(lastStatus);
      el.hidden = !r.items.length && !opener;
    }).catch(() => undefined);
  const reload = debounce(load, 600);
  return {
    el,
    update(d) {
      lastStatus = d.status;
      reload();
    },
  };
}

function entryBlock(title: string, e: ListEntry, testid: string): HTMLElement {
  const rows: [string, string][] = [
    ["事项", `${e.code} ${e.name}（清单第${e.list_version}版 第${e.row_number}项）`],
    ["牵头部门", e.lead_department_name ?? "—"],
    ["配合部门", e.co_department_names.join("、") || "—"],
    ["部门职责", e.department_duties ?? "—"],
    ["乡镇职责", e.township_duties_text ?? "—"],
    ["法律依据", e.legal_basis ?? "—"],
  ];
  return h("div", { testid },
    h("h3", null, title),
    h("dl", { class: "fields" }, rows.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])));
}

const lines = (text: string) => text.split(/[\n,，、]/).map((s) => s.trim()).filter(Boolean);

/** The ruling form: lead, co, 纪要号, 裁定理由, and optionally a list change. */
function rulingForm(d: DisputeDetail, departments: Department[], done: (d: DisputeDetail) => void): HTMLElement {
  const msg = note("rule-error");
  const options = () => departments.map((x) => h("option", { value: String(x.id) }, x.name));
  const lead = h("select", { testid: "rule-lead" }, h("option", { value: "" }, "（选择牵头部门）"), options());
  const co = h("select", { testid: "rule-co", multiple: true, size: 6 }, options());
  const minutes = h("input", { type: "text", testid: "rule-minutes", maxlength: 100, placeholder: "如：县社治〔2026〕3号" });
  const reasoning = h("textarea", { testid: "rule-reasoning", rows: 3, maxlength: 4000 });
  const withChange = h("input", { type: "checkbox", testid: "rule-change-toggle" });
  const kind = h("select", { testid: "change-kind" }, Object.entries(KINDS).map(([v, t]) => h("option", { value: v }, t)));
  const matter = h("input", { type: "text", testid: "change-matter", maxlength: 40, value: d.matter_code ?? "" });
  const changeLead = h("select", { testid: "change-lead" }, h("option", { value: "" }, "（选择部门）"), options());
  const changeCo = h("select", { testid: "change-co", multiple: true, size: 5 }, options());
  const keywords = h("input", { type: "text", testid: "change-keywords", placeholder: "用逗号或顿号分隔" });
  const name = h("input", { type: "text", testid: "change-name", maxlength: 200 });
  const basis = h("textarea", { testid: "change-basis", rows: 2, maxlength: 2000 });
  const reasons = h("textarea", { testid: "change-reasons", rows: 2, maxlength: 4000 });
  const field = (text: string, control: HTMLElement, kinds?: string[]) => {
    const el = h("label", { class: "field", "data-kinds": kinds?.join(" ") ?? "" }, h("span", null, text), control);
    return el;
  };
  const byKind = [
    field("牵头部门", changeLead, ["move_lead", "new_matter"]),
    field("配合部门（可多选）", changeCo, ["add_co", "new_matter"]),
    field("关键词", keywords, ["add_keywords", "new_matter"]),
    field("事项名称", name, ["new_matter"]),
  ];
  const changeBox = h("fieldset", { class: "change-box", testid: "rule-change", hidden: true },
    h("legend", null, "清单调整"), field("调整类型", kind), field("事项编码", matter), ...byKind,
    field("依据", basis), field("理由", reasons));
  const showKinds = () => {
    for (const el of byKind) el.hidden = !(el.dataset.kinds ?? "").split(" ").includes(kind.value);
  };
  kind.addEventListener("change", showKinds);
  withChange.addEventListener("change", () => (changeBox.hidden = !withChange.checked));
  showKinds();
  const picked = (s: HTMLSelectElement) => [...s.selectedOptions].map((o) => Number(o.value)).filter(Boolean);
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "rule-submit" }, "裁定");
  const form = h("form", { class: "action-form", testid: "rule-form", novalidate: true },
    field("牵头部门", lead), field("配合部门（可多选）", co), field("纪要号", minutes), field("裁定理由", reasoning),
    h("label", { class: "field field-check" }, withChange, h("span", null, "同时提出清单调整")), changeBox,
    msg.el, h("div", { class: "form-buttons" }, submit));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.clear();
    if (!lead.value) return msg.show("请选择牵头部门", "error");
    if (!minutes.value.trim()) return msg.show("请填写纪要号", "error");
    if (!reasoning.value.trim()) return msg.show("请填写裁定理由", "error");
    const body: Record<string, unknown> = {
      lead_department_id: Number(lead.value),
      co_department_ids: picked(co),
      minutes_ref: minutes.value.trim(),
      reasoning: reasoning.value.trim(),
    };
    if (withChange.checked) {
      if (!reasons.value.trim()) return msg.show("请填写清单调整的理由", "error");
      const k = kind.value;
      body.list_change = {
        kind: k,
        matter_code: matter.value.trim(),
        lead_department_id: ["move_lead", "new_matter"].includes(k) && changeLead.value ? Number(changeLead.value) : null,
        co_department_ids: ["add_co", "new_matter"].includes(k) ? picked(changeCo) : [],
        keywords: ["add_keywords", "new_matter"].includes(k) ? lines(keywords.value) : [],
        name: k === "new_matter" ? name.value.trim() || null : null,
        basis: basis.value.trim() || null,
        reasons: reasons.value.trim(),
      };
    }
    submit.disabled = true;
    try {
      done(await api<DisputeDetail>(`/api/disputes/${d.id}/rule`, { method: "POST", json: body }));
    } catch (err) {
      msg.show(errorText(err), "error");
    } finally {
      submit.disabled = false;
    }
  });
  // Start from the list's own entry: its lead and cooperators are the usual answer.
  const entry = d.current_entry ?? d.routing_entry;
  if (entry?.lead_department_id) lead.value = String(entry.lead_department_id);
  for (const o of co.options) o.selected = !!entry?.co_department_ids.includes(Number(o.value));
  return form;
}

/** #/dispute/{id}: the dispute, each side's reasons and clauses, the list entry, the ruling. */
export function disputePage(ctx: PageCtx): void {
  const id = Number(ctx.param);
  const msg = note("dispute-error");
  const head = h("div", { class: "page-head" }, h("h1", null, `争议 #${id}`));
  const body = h("div", { class: "event-grid" });
  ctx.root.append(h("div", { class: "page page-dispute", testid: "dispute-page" }, head, msg.el, body));

  const draw = (d: DisputeDetail, departments: Department[]) => {
    if (!ctx.alive()) return;
    head.replaceChildren(h("h1", null, `争议 #${d.id}`),
      h("span", { class: "badge", testid: "dispute-status", "data-status": d.status }, d.status_label));
    const about = h("dl", { class: "fields", testid: "dispute-fields" },
      [["事件", eventLink(d.event_id)], ["事件状态", label(EVENT_STATUS, d.event_status)], ["描述", d.event_description], ["地址", d.event_address ?? "—"],
        ["乡镇", d.township_name ?? "—"], ["发起方式", d.trigger_label], ["发起时间", fmtFull(d.opened_at)],
        ...(d.reason ? [["发起理由", d.reason]] : [])].map(([k, v]) => [h("dt", null, k as string), h("dd", null, v as string | Node)]));
    const parties = d.parties.length
      ? d.parties.map((p) => h("article", { class: "item", testid: "dispute-party", "data-department-id": p.department_id },
        h("div", { class: "card-line" }, h("b", null, p.department_name), h("span", { class: `badge role-${p.role}` }, label(ASSIGNMENT_ROLE, p.role)),
          h("span", { class: "muted" }, fmtShort(p.returned_at))),
        h("div", { testid: "party-reason" }, h("span", { class: "muted" }, "退回理由："), p.return_reason ?? "—"),
        h("div", { testid: "party-clause" }, h("span", { class: "muted" }, "援引条款："), p.return_clause ?? "—")))
      : [h("p", { class: "muted" }, "尚无部门退回（人工发起）")];
    const entries = [
      d.current_entry ? entryBlock("现行清单", d.current_entry, "dispute-current-entry") : h("p", { class: "muted" }, "现行清单中无该事项"),
      d.routing_entry ? entryBlock("派单时依据的清单", d.routing_entry, "dispute-routing-entry") : null,
    ];
    const ruling = d.status === "ruled"
      ? h("div", { testid: "dispute-ruling" },
        h("dl", { class: "fields" }, [["纪要号", d.minutes_ref ?? ""], ["牵头部门", d.lead_department_name ?? ""],
          ["配合部门", d.co_department_names.join("、") || "无"], ["裁定理由", d.reasoning ?? ""], ["裁定时间", fmtFull(d.ruled_at)]]
          .map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
        d.list_changes.map((c) => h("div", { class: "item", testid: "dispute-list-change", "data-status": c.status },
          h("b", null, KINDS[c.kind] ?? "清单调整"), ` 事项 ${c.matter_code} · ${CHANGE_STATUS[c.status] ?? ""}`,
          h("div", { class: "small" }, `理由：${c.reasons}`), c.basis ? h("div", { class: "small" }, `依据：${c.basis}`) : null)))
      : may("rule_dispute")
        ? rulingForm(d, departments, (ruled) => draw(ruled, departments))
        : h("p", { class: "muted" }, "待县社会治理中心裁定");
    fill(body,
      h("div", null, section("事件", "dispute-event", about), section("各方理由", "dispute-parties-panel", ...parties)),
      h("div", null, section("清单条目", "dispute-entries", ...entries), section(d.status === "ruled" ? "裁定结果" : "裁定", "dispute-rule-panel", ruling)));
  };

  Promise.all([api<DisputeDetail>(`/api/disputes/${id}`), getDepartments().catch(() => [] as Department[])])
    .then(([d, departments]) => draw(d, departments))
    .catch((err) => msg.show(errorText(err), "error"));
}
