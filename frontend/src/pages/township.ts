// 乡镇: the township's events live, its own duties (signed and fed back like a department),
// and what only it does: 核查 (pass / fail), 办结, 回访.

import { act, getDepartments } from "../api";
import { refuseBoard, isOverdueCard, openBoard, type Board } from "../board";
import { fill, h, reconcile, type Row } from "../dom";
import { isOpen } from "../labels";
import type { PageCtx } from "../page";
import { may } from "../permissions";
import { chinaDay } from "../time";
import type { Card } from "../types";
import { actionButton, actionForm, cardHead, placeOf, statusBadge, urgentBadge, eventLink } from "../ui";
import { territoryMap } from "../territory";
import { byDeadline, counter, taskRow, type Task } from "./department";
import { townshipEscalations } from "./escalations";
import { inboxNotices } from "./notices";

const RATINGS = [
  { value: "5", label: "5 分 · 非常满意" },
  { value: "4", label: "4 分 · 满意" },
  { value: "3", label: "3 分 · 基本满意" },
  { value: "2", label: "2 分 · 不满意（将重启）" },
  { value: "1", label: "1 分 · 很不满意（将重启）" },
];

/** An event waiting for the township: 核查 when resolved, 办结 when verified, 回访 when closed. */
function todoRow(first: Card): Row<Card> {
  let card = first;
  const info = h("div");
  const pass = actionButton("核查通过", "verify-pass", () => act(`/api/events/${card.id}/verify`, { passed: true }), "btn btn-primary");
  const fail = actionForm("核查不通过", "verify-fail-toggle", {
    testid: "verify-fail-form",
    submit: "确认不通过",
    danger: true,
    fields: [{ name: "note", label: "不通过原因", kind: "textarea", required: true, placeholder: "现场核查发现的问题，将退回处置部门重办" }],
    run: (v) => act(`/api/events/${card.id}/verify`, { passed: false, note: v.note }),
  });
  const close = actionButton("办结", "close", () => act(`/api/events/${card.id}/close`), "btn btn-primary");
  const rate = actionForm("回访", "rate-toggle", {
    testid: "rate-form",
    submit: "提交回访",
    fields: [
      { name: "rating", label: "满意度", kind: "select", required: true, options: RATINGS },
      { name: "note", label: "回访记录（3 分以下必填）", kind: "textarea" },
    ],
    check: (v) => (Number(v.rating) < 3 && !v.note ? "评分低于 3 分时请填写回访记录" : null),
    run: (v) => act(`/api/events/${card.id}/rate`, { rating: Number(v.rating), note: v.note || null }),
  });
  const el = h("article", { class: "item", testid: `todo-${first.id}`, "data-event-id": first.id }, info,
    h("div", { class: "actions" }, pass, fail, close, rate));
  return {
    el,
    update(c) {
      card = c;
      el.dataset.status = c.status;
      pass.hidden = fail.hidden = c.status !== "resolved" || !may("verify");
      close.hidden = c.status !== "verified" || !may("close");
      rate.hidden = c.status !== "closed" || !may("rate");
      const feedback = c.assignments.filter((a) => a.feedback).map((a) => h("div", { class: "small" }, `${a.department_name}反馈：${a.feedback}`));
      fill(info, cardHead(c), feedback);
    },
  };
}

function eventRow(first: Card): Row<Card> {
  const el = h("li", { testid: `township-event-${first.id}`, "data-event-id": first.id });
  return {
    el,
    update(c) {
      el.dataset.status = c.status;
      el.classList.toggle("overdue", isOverdueCard(c));
      fill(el, eventLink(c.id), " ", statusBadge(c.status), " ", urgentBadge(c.urgent), " ",
        h("span", null, c.matter_name ?? "事项未定"), " ", h("span", { class: "muted small" }, placeOf(c)));
    },
  };
}

export function townshipPage(ctx: PageCtx): void {
  const { user } = ctx;
  const page = h("div", { class: "page page-township" });
  ctx.root.append(page);
  if (!user.township_code) {
    page.append(h("div", { class: "banner banner-error", testid: "board-forbidden" }, "该账号未关联乡镇"));
    return;
  }
  const counters = h("div", { class: "counters", testid: "township-counters" });
  const duties = h("div", { class: "list", testid: "township-duties" });
  const dutyNotices = inboxNotices(duties);
  const todo = h("div", { class: "list", testid: "township-todo" });
  const events = h("ul", { class: "event-list", testid: "township-events" });
  const dutiesEmpty = h("p", { class: "muted" }, "暂无属地任务");
  const todoEmpty = h("p", { class: "muted" }, "暂无待核查、待办结或待回访事件");
  const territory = territoryMap(user.township_code);
  const escalations = townshipEscalations(user);
  ctx.onCleanup(() => escalations.stop());
  ctx.onCleanup(() => territory.remove());
  const head = h("div", { class: "page-head" }, h("h1", null, user.township_name ? `${user.township_name}指挥室` : "乡镇看板"));
  page.append(head, counters,
    h("div", { class: "board-grid" },
      h("div", { class: "board-main" },
        h("section", { class: "panel" }, h("h2", null, "核查 · 办结 · 回访"), todo, todoEmpty),
        h("section", { class: "panel" }, h("h2", null, "属地任务"), duties, dutiesEmpty),
        escalations.el),
      h("div", { class: "board-side" },
        h("section", { class: "panel" }, h("h2", null, "辖区地图"), territory.el),
        h("section", { class: "panel" }, h("h2", null, "辖区事件"), events))));

  let platformIds = new Set<number>();
  getDepartments().then((ds) => {
    platformIds = new Set(ds.filter((d) => d.kind === "township_platform" && d.township_code === user.township_code).map((d) => d.id));
    render(board);
  }).catch(() => undefined);

  const render = (b: Board) => {
    const today = chinaDay();
    const cards = [...b.cards.values()];
    const open = cards.filter((c) => isOpen(c.status));
    fill(counters,
      counter("在办", open.length, "open"),
      counter("待核查", cards.filter((c) => c.status === "resolved").length, "resolved"),
      counter("待办结", cards.filter((c) => c.status === "verified").length, "verified"),
      counter("超期", open.filter((c) => isOverdueCard(c)).length, "overdue"),
      counter("今日上报", cards.filter((c) => chinaDay(c.received_at) === today).length, "today-reported"),
      counter("今日办结", cards.filter((c) => c.closed_at && chinaDay(c.closed_at) === today).length, "today-closed"));

    const order: Record<string, number> = { resolved: 0, verified: 1, closed: 2 };
    const waiting = cards.filter((c) => c.status in order && !(c.status === "closed" && c.rating !== null))
      .sort((x, y) => order[x.status] - order[y.status] || x.id - y.id);
    reconcile(todo, waiting, (c) => String(c.id), todoRow);
    todoEmpty.hidden = waiting.length > 0;

    const tasks: Task[] = cards.flatMap((card) => card.assignments
      .filter((a) => (a.role === "territorial" || platformIds.has(a.department_id)) && a.status !== "cancelled")
      .map((a) => ({ a, card })));
    tasks.sort(byDeadline);
    reconcile(duties, tasks, (t) => String(t.a.id), taskRow);
    dutyNotices();
    dutiesEmpty.hidden = tasks.length > 0;

    reconcile(events, cards.sort((x, y) => y.id - x.id), (c) => String(c.id), eventRow);
    territory.show(cards);
    escalations.update(cards);
  };
  const board = openBoard(`/ws/boards/township/${encodeURIComponent(user.township_code)}`, render, () => refuseBoard(page));
  head.append(board.indicator);
  ctx.onCleanup(() => board.stop());
}
