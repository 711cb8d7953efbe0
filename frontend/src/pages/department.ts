// 部门 inbox: the department's assignments (and its stationed units'), live, each with its
// countdown and the 签收 / 退回 / 反馈 actions.

import { act, api, uploadPhoto } from "../api";
import { alertOf, refuseBoard, isOverdueAssignment, openBoard, runningDeadline, type Board } from "../board";
import { fill, h, reconcile, type Row } from "../dom";
import { ASSIGNMENT_ROLE, ASSIGNMENT_STATUS, label } from "../labels";
import type { PageCtx } from "../page";
import { may } from "../permissions";
import { extensionControl } from "./extensions";
import { historyView } from "./history";
import { inboxNotices } from "./notices";
import { countdown, parseTime } from "../time";
import type { Assignment, Card, Clauses } from "../types";
import { actionButton, actionForm, cameBackLine, eventLink, placeOf, setOptions, urgentBadge } from "../ui";

export interface Task {
  a: Assignment;
  card: Card;
}

const LIVE = new Set(["pending", "signed", "returned"]);

/** The rows of the list version that routed the event, loaded when the return form opens. */
function clausePicker(id: () => number): { select: HTMLSelectElement; load: () => void } {
  const select = h("select", null, h("option", { value: "" }, "加载清单条目…"));
  let loaded = false;
  const load = () => {
    if (loaded) return;
    loaded = true;
    api<Clauses>(`/api/assignments/${id()}/clauses`).then((list) => {
      const ordered = [...list.clauses].sort((x, y) => Number(y.routed) - Number(x.routed) || x.row_number - y.row_number);
      setOptions(select, [{ value: "", label: `请选择清单（第 ${list.list_version} 版）条目` },
        ...ordered.map((c) => ({
          value: c.code,
          label: `第${c.row_number}项 ${c.name}${c.lead_department_name ? `（牵头：${c.lead_department_name}）` : ""}${c.routed ? " · 本事件派单依据" : ""}`,
        }))]);
    }).catch(() => {
      loaded = false;
      setOptions(select, [{ value: "", label: "清单条目加载失败，请重试" }]);
    });
  };
  return { select, load };
}

/** The 签收 / 退回 / 反馈 controls of one assignment, shown according to its status. */
export function taskActions(getTask: () => Task): { el: HTMLElement; update(a: Assignment): void } {
  const id = () => getTask().a.id;
  const clause = clausePicker(id);
  const photoInput = h("input", { type: "file", accept: "image/*", capture: "environment", multiple: true });
  const sign = actionButton("签收", "sign", () => act(`/api/assignments/${id()}/sign`), "btn btn-primary");
  const ret = actionForm("退回", "return-toggle", {
    testid: "return-form",
    submit: "确认退回",
    danger: true,
    fields: [
      { name: "reason", label: "退回理由", kind: "textarea", required: true, placeholder: "说明为何不属于本部门职责" },
      { name: "clause_code", label: "清单依据（派单所依据的清单版本中的条目）", required: true, control: clause.select },
      { name: "clause_note", label: "补充说明（选填）", placeholder: "如条目中的具体条款" },
    ],
    run: (v) => act(`/api/assignments/${id()}/return`, { reason: v.reason, clause_code: v.clause_code, clause_note: v.clause_note || null }),
  });
  ret.querySelector("[data-testid=return-toggle]")?.addEventListener("click", clause.load);
  const feedback = actionForm("反馈", "feedback-toggle", {
    testid: "feedback-form",
    submit: "提交反馈",
    fields: [
      { name: "note", label: "处置情况", kind: "textarea", required: true, placeholder: "处置经过和结果" },
      { name: "photos", label: "处置照片（选填）", control: photoInput },
    ],
    run: async (v) => {
      const { a } = getTask();
      const files = Array.from(photoInput.files ?? []);
      await act(`/api/assignments/${a.id}/feedback`, { note: v.note });
      for (const f of files) await uploadPhoto(a.event_id, f, a.id);
    },
  });
  const extension = extensionControl(id);
  const el = h("div", { class: "actions" }, sign, ret, feedback, extension.el);
  return {
    el,
    update(a) {
      // Only the buttons the user may use (a grid worker on the township board has none).
      sign.hidden = a.status !== "pending" || !may("sign");
      ret.hidden = (a.status !== "pending" && a.status !== "signed") || !may("return_assignment");
      feedback.hidden = a.status !== "signed" || !may("feed_back");
      extension.update(a);
      el.hidden = sign.hidden && ret.hidden && feedback.hidden && extension.el.hidden;
    },
  };
}

/** One assignment as a card: who, what, where, the countdown, and its actions. */
export function taskRow(first: Task): Row<Task> {
  let task = first;
  const info = h("div", { class: "task-info" });
  const actions = taskActions(() => task);
  const el = h("article", { class: "item task", testid: `assignment-${first.a.id}`, "data-assignment-id": first.a.id }, info, actions.el);
  return {
    el,
    update(t) {
      task = t;
      const { a, card } = t;
      el.dataset.eventId = String(card.id);
      el.dataset.status = a.status;
      el.dataset.eventStatus = card.status;
      el.dataset.role = a.role;
      el.classList.toggle("greyed", !LIVE.has(a.status));
      el.classList.toggle("overdue", isOverdueAssignment(a));
      const live = a.status === "pending" || a.status === "signed";
      fill(info,
        h("div", { class: "card-line" }, eventLink(card.id),
          h("span", { class: `badge role-${a.role}` }, label(ASSIGNMENT_ROLE, a.role)),
          h("span", { class: `badge astatus-${a.status}`, testid: "assignment-status" }, label(ASSIGNMENT_STATUS, a.status)),
          urgentBadge(card.urgent),
          h("span", { class: "muted small" }, a.department_name, a.on_behalf_of_name ? `（${a.on_behalf_of_name}）` : "")),
        h("div", { class: "card-matter" }, card.matter_name ?? "事项未定", card.platform_name ? h("span", { class: "muted" }, ` · ${card.platform_name}`) : null),
        h("div", { class: "card-where" }, placeOf(card), card.address ? ` · ${card.address}` : ""),
        h("div", { class: "card-desc", testid: "description" }, card.description),
        a.duties_text ? h("div", { class: "muted small" }, `职责：${a.duties_text}`) : null,
        live ? cameBackLine(a) : null,
        live ? countdown(a.status === "pending" ? "签收" : "办结", runningDeadline(a), a.created_at ?? card.received_at, alertOf(a)) : null,
        a.status === "returned" ? h("div", { class: "muted small" }, `已退回，等待县指挥中心处理。理由：${a.return_reason ?? ""}`) : null,
        a.status === "fed_back" && a.feedback ? h("div", { class: "muted small" }, `已反馈：${a.feedback}`) : null);
      actions.update(a);
    },
  };
}

/** Live assignments first, the one whose deadline comes soonest on top. */
export function byDeadline(x: Task, y: Task): number {
  const rank = (t: Task) => (t.a.status === "pending" || t.a.status === "signed" ? 0 : t.a.status === "returned" ? 1 : 2);
  const due = (t: Task) => parseTime(runningDeadline(t.a)) ?? Number.MAX_SAFE_INTEGER;
  return rank(x) - rank(y) || due(x) - due(y) || x.a.id - y.a.id;
}

export function departmentPage(ctx: PageCtx): void {
  const { user } = ctx;
  const page = h("div", { class: "page page-department" });
  ctx.root.append(page);
  if (user.department_id === null) {
    page.append(h("div", { class: "banner banner-error", testid: "board-forbidden" }, "该账号未关联部门，无部门待办"));
    return;
  }
  const tabs = h("nav", { class: "tabs", testid: "dept-tabs" },
    h("a", { href: "#/department", class: ctx.param === "history" ? "" : "on", testid: "dept-tab-inbox" }, "待办"),
    h("a", { href: "#/department/history", class: ctx.param === "history" ? "on" : "", testid: "dept-tab-history" }, "历史任务"));
  if (ctx.param === "history") {
    page.append(h("div", { class: "page-head" }, h("h1", null, "历史任务"), h("span", { class: "muted" }, user.department_name ?? "")), tabs);
    historyView(ctx, page);
    return;
  }
  const counters = h("div", { class: "counters", testid: "dept-counters" });
  const list = h("div", { class: "list", testid: "dept-inbox" });
  const empty = h("p", { class: "muted", testid: "dept-empty" }, "暂无待办任务");
  const showDone = h("input", { type: "checkbox", testid: "show-fed-back", checked: true });
  const head = h("div", { class: "page-head" }, h("h1", null, "部门待办"), h("span", { class: "muted" }, user.department_name ?? ""));
  page.append(head, tabs, counters,
    h("label", { class: "check" }, showDone, " 显示已反馈"), list, empty);

  const notices = inboxNotices(list);
  const render = (b: Board) => {
    const ids = new Set(b.departmentIds ?? [user.department_id as number]);
    const tasks: Task[] = [];
    for (const card of b.cards.values()) {
      for (const a of card.assignments) {
        if (!ids.has(a.department_id)) continue;
        if (LIVE.has(a.status) || (a.status === "fed_back" && showDone.checked)) tasks.push({ a, card });
      }
    }
    tasks.sort(byDeadline);
    reconcile(list, tasks, (t) => String(t.a.id), taskRow);
    notices();
    empty.hidden = tasks.length > 0;
    const count = (pred: (a: Assignment) => boolean) => tasks.filter((t) => pred(t.a)).length;
    fill(counters,
      counter("待签收", count((a) => a.status === "pending"), "pending"),
      counter("处置中", count((a) => a.status === "signed"), "signed"),
      counter("已退回", count((a) => a.status === "returned"), "returned"),
      counter("超期", count((a) => isOverdueAssignment(a)), "overdue"));
  };
  const board = openBoard(`/ws/boards/department/${user.department_id}`, render, () => refuseBoard(page));
  head.append(board.indicator);
  showDone.addEventListener("change", () => render(board));
  ctx.onCleanup(() => board.stop());
}

export const counter = (text: string, n: number, key: string) =>
  h("div", { class: `counter counter-${key}`, testid: `counter-${key}`, "data-count": n }, h("b", null, String(n)), h("span", null, text));
