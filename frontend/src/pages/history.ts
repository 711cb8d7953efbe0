// 历史任务: a department's own past assignments (every round, every status), searched by
// status, period, matter and free text, newest first, a page at a time.

import { api, errorText, getMatters } from "../api";
import { fill, h } from "../dom";
import { ASSIGNMENT_ROLE, ASSIGNMENT_STATUS, EVENT_STATUS, label } from "../labels";
import type { PageCtx } from "../page";
import { fmtShort } from "../time";
import type { components } from "../api-types";
import { cameBackLine, eventLink, note, setOptions } from "../ui";

type Record_ = components["schemas"]["AssignmentRecord"];
type Records = components["schemas"]["AssignmentsPublic"];

const PAGE_SIZE = 20;

/** The start of a China-time day (YYYY-MM-DD) as an ISO instant; the next day's for `until`. */
function dayStart(day: string, next = false): string | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return null;
  const at = new Date(`${day}T00:00:00+08:00`);
  if (next) at.setUTCDate(at.getUTCDate() + 1);
  return at.toISOString();
}

function recordRow(r: Record_): HTMLElement {
  return h("article", { class: "item task", testid: "history-item", "data-assignment-id": r.id, "data-event-id": r.event_id, "data-status": r.status },
    h("div", { class: "card-line" }, eventLink(r.event_id),
      h("span", { class: `badge role-${r.role}` }, label(ASSIGNMENT_ROLE, r.role)),
      h("span", { class: `badge astatus-${r.status}`, testid: "history-item-status" }, label(ASSIGNMENT_STATUS, r.status)),
      r.round > 1 ? h("span", { class: "muted small" }, `第${r.round}轮`) : null,
      h("span", { class: "muted small" }, `派单 ${fmtShort(r.created_at)}`)),
    h("div", { class: "card-matter" }, r.matter_name ?? "事项未定",
      h("span", { class: "muted" }, ` · 事件${label(EVENT_STATUS, r.event_status)}`)),
    h("div", { class: "card-where" }, [r.township_name, r.event_address].filter(Boolean).join(" · ") || "未定位",
      h("span", { class: "muted small" }, ` · ${r.department_name}`)),
    h("div", { class: "card-desc", testid: "description" }, r.event_description),
    r.feedback ? h("div", { class: "small" }, `反馈：${r.feedback}`) : null,
    r.return_reason ? h("div", { class: "small muted" }, `退回理由：${r.return_reason}`) : null,
    cameBackLine(r));
}

/** The 历史任务 tab of the department page, drawn into `into`. */
export function historyView(ctx: PageCtx, into: HTMLElement): void {
  const status = h("select", { testid: "history-filter-status", name: "status" },
    h("option", { value: "" }, "全部状态"),
    Object.entries(ASSIGNMENT_STATUS).map(([code, text]) => h("option", { value: code }, text)));
  const matter = h("select", { testid: "history-matter", name: "matter" }, h("option", { value: "" }, "全部事项"));
  getMatters().then((m) => setOptions(matter, [{ value: "", label: "全部事项" },
    ...m.matters.map((x) => ({ value: x.code, label: `${x.code} ${x.name}` }))])).catch(() => undefined);
  const since = h("input", { type: "date", testid: "history-since", name: "since" });
  const until = h("input", { type: "date", testid: "history-until", name: "until" });
  const text = h("input", { type: "search", testid: "history-q", name: "q", maxlength: 200, placeholder: "描述、地址、反馈或退回理由" });
  const submit = h("button", { type: "submit", class: "btn btn-primary", testid: "history-submit" }, "查询");
  const form = h("form", { class: "history-filter", testid: "history-filter" },
    h("label", { class: "field" }, h("span", null, "状态"), status),
    h("label", { class: "field" }, h("span", null, "事项"), matter),
    h("label", { class: "field" }, h("span", null, "派单日期自"), since),
    h("label", { class: "field" }, h("span", null, "至"), until),
    h("label", { class: "field" }, h("span", null, "关键词"), text),
    h("div", { class: "form-buttons" }, submit));
  const count = h("div", { class: "muted", testid: "history-count" });
  const list = h("div", { class: "list", testid: "history-list" });
  const empty = h("p", { class: "muted", testid: "history-empty", hidden: true }, "没有符合条件的任务");
  const msg = note("history-error");
  const prev = h("button", { type: "button", class: "btn btn-small", testid: "history-prev" }, "上一页");
  const next = h("button", { type: "button", class: "btn btn-small", testid: "history-next" }, "下一页");
  const pageNo = h("span", { class: "muted", testid: "history-page" });
  into.append(h("section", { class: "panel" }, form), msg.el, count, list, empty,
    h("div", { class: "pager" }, prev, pageNo, next));

  let offset = 0;
  let asked = 0;
  const load = async () => {
    const mine = ++asked;
    const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
    if (status.value) params.set("status", status.value);
    if (matter.value) params.set("matter", matter.value);
    const from = dayStart(since.value);
    const to = dayStart(until.value, true);
    if (from) params.set("since", from);
    if (to) params.set("until", to);
    if (text.value.trim()) params.set("q", text.value.trim());
    submit.disabled = true;
    msg.clear();
    try {
      const page = await api<Records>(`/api/assignments?${params}`);
      if (mine !== asked || !ctx.alive()) return;
      fill(list, page.data.map(recordRow));
      count.dataset.count = String(page.count);
      count.textContent = `共 ${page.count} 条`;
      empty.hidden = page.count > 0;
      const pages = Math.max(1, Math.ceil(page.count / PAGE_SIZE));
      pageNo.textContent = `第 ${Math.floor(offset / PAGE_SIZE) + 1} / ${pages} 页`;
      prev.disabled = offset === 0;
      next.disabled = offset + PAGE_SIZE >= page.count;
    } catch (err) {
      if (mine === asked) msg.show(errorText(err), "error");
    } finally {
      submit.disabled = false;
    }
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    offset = 0;
    void load();
  });
  prev.addEventListener("click", () => {
    offset = Math.max(0, offset - PAGE_SIZE);
    void load();
  });
  next.addEventListener("click", () => {
    offset += PAGE_SIZE;
    void load();
  });
  void load();
}
