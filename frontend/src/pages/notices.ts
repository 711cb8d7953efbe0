// 督办 supervision notices on the pages: each notice on its card of the department inbox with
// its level and a 回复 form; the county board's panel of open notices by level; the event
// page's form for the centre to issue one on a live part. The notices come from
// GET /api/supervision, fetched again whenever the page's board moves.

import { api } from "../api";
import type { components } from "../api-types";
import { debounce, fill, h, reconcile, type Row } from "../dom";
import { label } from "../labels";
import { may } from "../permissions";
import { fmtFull, fmtShort } from "../time";
import type { Assignment, EventDetail } from "../types";
import { actionForm, eventLink } from "../ui";
import vocabulary from "../vocabulary.json";

type Notice = components["schemas"]["NoticePublic"];
type Notices = components["schemas"]["NoticesPublic"];

const LEVEL: Record<string, string> = vocabulary.notice_level;
const STATUS: Record<string, string> = vocabulary.notice_status;
const LEVELS = ["red", "yellow", "normal"] as const;
const LIVE_PART = new Set(["pending", "signed"]);

/**
 * Fetch the notices not yet closed, one request at a time, a burst of board updates asking
 * once; a call while one is under way asks for another after it.
 */
function notClosed(onLoad: (notices: Notice[]) => void): () => void {
  let busy = false;
  let again = false;
  const load = async (): Promise<void> => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      const page = await api<Notices>("/api/supervision?status=open&status=acknowledged&limit=200");
      onLoad(page.data);
    } catch {
      // the next board update asks again
    } finally {
      busy = false;
      if (again) {
        again = false;
        void load();
      }
    }
  };
  return debounce(() => void load(), 200);
}

const levelBadge = (level: string) =>
  h("span", { class: `badge notice-level notice-${level}`, testid: "notice-level", "data-level": level }, label(LEVEL, level));

/** One notice as a line: level, state, note, who and when, the reply if there is one. */
function noticeInfo(n: Notice): (HTMLElement | null)[] {
  return [
    h("div", { class: "card-line" }, levelBadge(n.level),
      h("span", { class: `badge notice-status-${n.status}`, testid: "notice-status", "data-status": n.status }, label(STATUS, n.status)),
      h("span", { class: "muted small" }, `${n.issued_by} · ${fmtShort(n.issued_at)}`)),
    h("div", { testid: "notice-note" }, n.note),
    n.reply ? h("div", { class: "muted small", testid: "notice-reply" }, `回复（${n.replied_by ?? ""} ${fmtShort(n.replied_at)}）：${n.reply}`) : null,
  ];
}

/** A notice on a department's card, with its 回复 form while it waits for one. */
function inboxRow(first: Notice): Row<Notice> {
  let notice = first;
  const info = h("div");
  const reply = actionForm("回复", "notice-reply-toggle", {
    testid: "notice-reply-form",
    submit: "提交回复",
    fields: [{ name: "note", label: "回复内容", kind: "textarea", required: true, placeholder: "说明已采取或将采取的措施" }],
    run: (v) => api(`/api/supervision/${notice.id}/reply`, { method: "POST", json: { note: v.note } }),
  });
  const el = h("div", { class: `notice notice-card-${first.level}`, testid: `notice-${first.id}`, "data-notice-id": first.id }, info, reply);
  return {
    el,
    update(n) {
      notice = n;
      el.dataset.status = n.status;
      el.dataset.level = n.level;
      fill(info, noticeInfo(n));
      reply.hidden = n.status !== "open" || !may("reply_supervision");
    },
  };
}

/**
 * Show each notice on its assignment's card inside a list of cards ([data-assignment-id]).
 * Call the returned function whenever the board moves; it fetches and redraws.
 */
export function inboxNotices(list: HTMLElement): () => void {
  if (!may("reply_supervision")) return () => undefined; // a grid worker answers none
  const boxes = new Map<number, HTMLElement>();
  let latest: Notice[] = [];
  const draw = () => {
    const byPart = new Map<number, Notice[]>();
    for (const n of latest) byPart.set(n.assignment_id, [...(byPart.get(n.assignment_id) ?? []), n]);
    for (const card of list.querySelectorAll<HTMLElement>("[data-assignment-id]")) {
      const id = Number(card.dataset.assignmentId);
      const mine = (byPart.get(id) ?? []).sort((a, b) => a.id - b.id);
      let box = boxes.get(id);
      if (!box && !mine.length) continue;
      if (!box) boxes.set(id, (box = h("div", { class: "notices", testid: "notices" })));
      if (box.parentElement !== card) card.insertBefore(box, card.querySelector(":scope > .actions"));
      reconcile(box, mine, (n) => String(n.id), inboxRow);
      box.hidden = mine.length === 0;
      card.classList.toggle("supervised", mine.some((n) => n.status === "open"));
    }
  };
  const load = notClosed((notices) => {
    latest = notices;
    draw();
  });
  return () => {
    draw();
    load();
  };
}

/** The county board's 督办 panel: notices not yet closed, grouped by level, reddest first. */
export function noticesPanel(): { el: HTMLElement; refresh: () => void } {
  const groups = new Map<string, HTMLElement>();
  const counts = new Map<string, HTMLElement>();
  const empty = h("p", { class: "muted", testid: "notices-empty" }, "暂无未关闭的督办");
  const body = h("div", { testid: "notices-panel-body" });
  for (const level of LEVELS) {
    const list = h("ul", { class: "feed", testid: `notices-${level}` });
    const count = h("b", { testid: `notices-${level}-count`, "data-count": 0 }, "0");
    groups.set(level, list);
    counts.set(level, count);
    body.append(h("div", { class: "notice-group", testid: `notice-group-${level}` },
      h("h3", null, levelBadge(level), " ", count, " 件"), list));
  }
  const el = h("section", { class: "panel", testid: "notices-panel" }, h("h2", null, "督办"), body, empty);
  const load = notClosed((notices) => {
    for (const level of LEVELS) {
      const mine = notices.filter((n) => n.level === level);
      const count = counts.get(level) as HTMLElement;
      count.textContent = String(mine.length);
      count.dataset.count = String(mine.length);
      (groups.get(level) as HTMLElement).parentElement!.hidden = mine.length === 0;
      reconcile(groups.get(level) as HTMLElement, mine, (n) => `${n.id}-${n.status}`, panelRow);
    }
    empty.hidden = notices.length > 0;
  });
  return { el, refresh: load };
}

function panelRow(n: Notice): Row<Notice> {
  const el = h("li", { testid: "notice-item", "data-notice-id": n.id, "data-status": n.status, "data-level": n.level },
    eventLink(n.event_id), " ",
    h("b", null, n.department_name), " ",
    h("span", { class: `badge notice-status-${n.status}`, testid: "notice-status" }, label(STATUS, n.status)), " ",
    h("span", { class: "muted small" }, n.automatic ? "规则督办" : n.issued_by, " · ", fmtShort(n.issued_at)),
    h("div", { class: "small" }, n.note),
    n.deadline ? h("div", { class: "muted small" }, `${n.deadline_kind === "sign" ? "签收" : "办结"}时限 ${fmtFull(n.deadline)}`) : null,
    n.reply ? h("div", { class: "muted small", testid: "notice-reply" }, `回复：${n.reply}`) : null);
  return { el, update: () => undefined };
}

/** The event page's 督办 form on a live part (the centre), kept across renders. */
export function superviseActions(): (d: EventDetail, a: Assignment) => HTMLElement | null {
  const forms = new Map<number, HTMLElement>();
  return (_d, a) => {
    if (!LIVE_PART.has(a.status) || !may("supervise")) return null;
    let form = forms.get(a.id);
    if (!form) forms.set(a.id, (form = superviseForm(a)));
    return form;
  };
}

function superviseForm(a: Assignment): HTMLElement {
  return h("div", { class: "actions" }, actionForm("督办", "supervise-toggle", {
    testid: "supervise-form",
    submit: "发出督办",
    fields: [
      { name: "level", label: "督办等级", kind: "select", required: true,
        options: (["normal", "yellow", "red"] as const).map((v) => ({ value: v, label: label(LEVEL, v) })) },
      { name: "note", label: "督办内容", kind: "textarea", required: true, placeholder: "如：群众反映强烈，请于今日内处置到位" },
    ],
    run: (v) => api(`/api/assignments/${a.id}/supervise`, { method: "POST", json: { level: v.level, note: v.note } }),
  }));
}
