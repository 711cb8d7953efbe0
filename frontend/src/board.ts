// The state of one live board: Map<event id, Card>, upserted by the websocket's snapshot and
// deltas; everything shown (counters, queues, shading) is derived from it, at most 10×/s.

import { h } from "./dom";
import { isOpen } from "./labels";
import { parseTime } from "./time";
import type { Assignment, BoardSnapshot, Card, Delta } from "./types";
import { connIndicator, LiveChannel } from "./ws";

export interface Board {
  cards: Map<number, Card>;
  departmentIds: number[] | null;
  /** The snapshot's recent deltas and those received since, newest first (at most FEED_SIZE). */
  feed: Delta[];
  indicator: HTMLElement;
  stop(): void;
}

const FEED_SIZE = 100;
const RENDER_EVERY_MS = 100;
const OVERDUE_RECHECK_MS = 30_000;

export function openBoard(path: string, render: (board: Board) => void, onForbidden: () => void): Board {
  const light = connIndicator();
  let timer = 0;
  let last = 0;
  const board: Board = {
    cards: new Map(),
    departmentIds: null,
    feed: [],
    indicator: light.el,
    stop: () => {
      window.clearTimeout(timer);
      window.clearInterval(clock);
      channel.stop();
    },
  };
  const schedule = () => {
    if (timer) return;
    timer = window.setTimeout(() => {
      timer = 0;
      last = performance.now();
      render(board);
    }, Math.max(0, RENDER_EVERY_MS - (performance.now() - last)));
  };
  // Overdue is judged by the client's clock: derive again now and then even without deltas.
  const clock = window.setInterval(schedule, OVERDUE_RECHECK_MS);
  const channel = new LiveChannel<BoardSnapshot>(path, {
    snapshot(msg) {
      board.cards = new Map((msg.events ?? []).map((c) => [c.id, c]));
      if (msg.department_ids) board.departmentIds = msg.department_ids;
      // The feed's history comes with every snapshot; later deltas have greater seqs.
      if (msg.recent) board.feed = msg.recent.slice(0, FEED_SIZE);
      schedule();
    },
    deltas(deltas) {
      for (const d of deltas) {
        if (d.event) board.cards.set(d.event.id, d.event);
        board.feed.unshift(d);
      }
      if (board.feed.length > FEED_SIZE) board.feed.length = FEED_SIZE;
      schedule();
    },
    state(state) {
      light.set(state);
      if (state === "forbidden") onForbidden();
    },
  });
  return board;
}

/** The deadline that is running for a live assignment (pending: sign_by, signed: handle_by). */
export function runningDeadline(a: Assignment): string | null {
  if (a.status === "pending") return a.sign_by;
  if (a.status === "signed") return a.handle_by;
  return null;
}

export function isOverdueAssignment(a: Assignment, now = Date.now()): boolean {
  const deadline = parseTime(runningDeadline(a));
  if (a.status !== "pending" && a.status !== "signed") return false;
  return (deadline !== null && deadline <= now) || (a.status === "pending" ? a.sign_alert : a.handle_alert) === 2;
}

/** The server's "overdue" (events.lifecycle.overdue): an open event with a late live part, or past its handle_by. */
export const isOverdueCard = (c: Card, now = Date.now()) =>
  isOpen(c.status) && (c.assignments.some((a) => isOverdueAssignment(a, now)) || (parseTime(c.handle_by) ?? Infinity) <= now);

/** The countdown's yellow/red level sent by the server for the running deadline. */
export const alertOf = (a: Assignment) => (a.status === "pending" ? a.sign_alert : a.handle_alert) ?? 0;

/** The banner of a board the user may not see. */
export function forbiddenBanner(): HTMLElement {
  return h("div", { class: "banner banner-error", testid: "board-forbidden", role: "alert" }, "无权查看该看板");
}

/** Replace a refused board's page by its banner: said once, no empty board under it. */
export function refuseBoard(page: HTMLElement): void {
  page.replaceChildren(forbiddenBanner());
}
