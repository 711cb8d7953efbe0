// 现场核查 (phone first): the township's events awaiting the on-site check, each opening a form
// with two big buttons, 核查通过 / 核查不通过 (with a note), and an optional photo as evidence.
// For the township's grid workers and its command room.

import { act, errorText, uploadPhoto } from "../api";
import { forbiddenBanner, openBoard, type Board } from "../board";
import { fill, h, reconcile, type Row } from "../dom";
import type { PageCtx } from "../page";
import type { Card } from "../types";
import { cardHead, note } from "../ui";

const VERIFIERS = new Set(["grid_worker", "township_operator"]);

/** One event awaiting its check: what was done, and a button that opens the form. */
function queueRow(open: (c: Card) => void) {
  return (first: Card): Row<Card> => {
    let card = first;
    const info = h("div");
    const go = h("button", { type: "button", class: "btn btn-primary btn-block", testid: "verify-open" }, "去核查");
    go.addEventListener("click", () => open(card));
    const el = h("article", { class: "item", testid: `verify-${first.id}`, "data-event-id": first.id }, info, go);
    return {
      el,
      update(c) {
        card = c;
        el.dataset.status = c.status;
        fill(info, cardHead(c), feedbackOf(c));
      },
    };
  };
}

const feedbackOf = (c: Card) =>
  c.assignments.filter((a) => a.feedback && a.status === "fed_back")
    .map((a) => h("div", { class: "small" }, `${a.department_name}反馈：${a.feedback}`));

export function verifyPage(ctx: PageCtx): void {
  const { user } = ctx;
  const page = h("div", { class: "page page-verify" });
  ctx.root.append(page);
  if (!VERIFIERS.has(user.role) || !user.township_code) {
    page.append(h("div", { class: "banner banner-error", testid: "board-forbidden" }, "现场核查仅限乡镇网格员和乡镇指挥室"));
    return;
  }
  const head = h("div", { class: "page-head" }, h("h1", null, "现场核查"), h("span", { class: "muted" }, user.township_name ?? ""));
  const done = note("verify-done");
  const list = h("div", { class: "list", testid: "verify-queue" });
  const empty = h("p", { class: "muted", testid: "verify-empty" }, "暂无待核查事件");

  // The form of the event being checked (one at a time).
  const sheetInfo = h("div");
  const photo = h("input", { type: "file", accept: "image/*", capture: "environment", testid: "verify-photo" });
  const noteBox = h("textarea", { rows: 4, maxlength: 4000, testid: "verify-note", placeholder: "现场情况；不通过时写明问题，将退回处置部门重办" });
  const error = note("verify-error");
  const pass = h("button", { type: "button", class: "btn btn-primary btn-block btn-big", testid: "verify-pass-big" }, "核查通过");
  const fail = h("button", { type: "button", class: "btn btn-danger btn-block btn-big", testid: "verify-fail-big" }, "核查不通过");
  const back = h("button", { type: "button", class: "btn btn-plain btn-block", testid: "verify-back" }, "返回列表");
  const sheet = h("section", { class: "panel verify-sheet", testid: "verify-sheet", hidden: true },
    sheetInfo,
    h("label", { class: "field" }, h("span", null, "现场照片（选填）"), photo),
    h("label", { class: "field" }, h("span", null, "核查说明（不通过时必填）"), noteBox),
    error.el, pass, fail, back);
  page.append(head, done.el, sheet, list, empty);

  let current: Card | null = null;
  const open = (c: Card) => {
    current = c;
    sheet.dataset.eventId = String(c.id);
    fill(sheetInfo, cardHead(c), feedbackOf(c));
    photo.value = "";
    noteBox.value = "";
    error.clear();
    done.clear();
    sheet.hidden = false;
    list.hidden = empty.hidden = true;
    window.scrollTo(0, 0);
  };
  const close = () => {
    current = null;
    sheet.hidden = true;
    list.hidden = false;
    render(board);
  };
  back.addEventListener("click", close);

  const submit = async (passed: boolean) => {
    const c = current;
    if (!c) return;
    const text = noteBox.value.trim();
    if (!passed && !text) {
      error.show("请填写核查说明：不通过时须写明现场发现的问题", "error");
      return;
    }
    pass.disabled = fail.disabled = true;
    error.clear();
    try {
      const file = photo.files?.[0];
      if (file) await uploadPhoto(c.id, file);
      await act(`/api/events/${c.id}/verify`, { passed, note: text || null });
      close();
      done.show(passed ? `#${c.id} 已核查通过` : `#${c.id} 核查不通过，已退回处置部门重办`, "ok");
    } catch (err) {
      error.show(errorText(err), "error");
    } finally {
      pass.disabled = fail.disabled = false;
    }
  };
  pass.addEventListener("click", () => void submit(true));
  fail.addEventListener("click", () => void submit(false));

  const row = queueRow(open);
  const render = (b: Board) => {
    const waiting = [...b.cards.values()].filter((c) => c.status === "resolved" && c.township_code === user.township_code)
      .sort((x, y) => x.id - y.id);
    reconcile(list, waiting, (c) => String(c.id), row);
    if (current && !waiting.some((c) => c.id === current?.id)) {
      // Checked by someone else meanwhile: say so rather than offer a stale form.
      if (sheet.hidden === false) error.show("该事件已不在待核查状态", "error");
    }
    empty.hidden = waiting.length > 0 || !sheet.hidden;
  };
  const board = openBoard(`/ws/boards/township/${encodeURIComponent(user.township_code)}`, render, () => page.prepend(forbiddenBanner()));
  head.append(board.indicator);
  ctx.onCleanup(() => board.stop());
}
