// The state of one live board: Map<event id, Card>, from the websocket's snapshot and then its
// compact deltas (what changed on a card); a delta for a card the board lacks (an event new to
// it, or a change it never saw) fetches the card. Everything shown (counters, queues, shading)
// is derived from the cards, at most 10×/s.

import { api } from "./api";
import { h } from "./dom";
import { isOpen } from "./labels";
import { parseTime } from "./time";
import type { Assignment, BoardCards, BoardSnapshot, Card, Delta } from "./types";
import { connIndicator, LiveChannel } from "./ws";

type Part = Card["assignments"][number];

// The fields a card or a part may leave unset: a compact delta never sends a null not yet set.
const CARD_NULLS = [
  "address", "township_code", "village_code", "grid_code", "matter_code", "platform_code",
  "sign_by", "handle_by", "closed_at", "rating", "township_name", "village_name", "grid_name",
  "platform_name", "matter_name",
] as const;
const PART_NULLS = [
  "duties_text", "sign_by", "handle_by", "on_behalf_of_id", "on_behalf_of_name", "signed_at",
  "fed_back_at", "feedback", "return_reason", "return_clause", "came_back",
] as const;
const CARDS_PER_FETCH = 200;
const FETCH_RETRY_MS = 2000;

function blank<T>(keys: readonly string[], fields: Record<string, unknown>): T {
  const out: Record<string, unknown> = { ...fields };
  for (const k of keys) out[k] = null;
  return out as T;
}

/** A card with a delta's changes applied (a new card when there is none): never in place. */
export function applySet(card: Card | null, id: number, set: Delta["set"]): Card {
  const next: Card = card ? { ...card } : blank<Card>(CARD_NULLS, { id, assignments: [] });
  const parts = new Map(next.assignments.map((a) => [a.id, a]));
  let order = next.assignments.map((a) => a.id);
  const newPart = (pid: number) => blank<Part>(PART_NULLS, { id: pid, event_id: id });
  for (const [group, fields] of Object.entries(set)) {
    if (group === "e") {
      for (const [key, value] of Object.entries(fields)) {
        if (key === "parts") order = value as number[];
        else (next as unknown as Record<string, unknown>)[key] = value;
      }
    } else {
      const pid = Number(group);
      parts.set(pid, { ...(parts.get(pid) ?? newPart(pid)), ...fields } as Part);
    }
  }
  next.assignments = order.map((pid) => parts.get(pid) ?? newPart(pid));
  return next;
}

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
      window.clearTimeout(fetchTimer);
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
  // The version each card was brought to by a delta; null: current as a snapshot or a fetch
  // gave it, so every later delta applies. Deltas of a card being fetched wait for it.
  let versions = new Map<number, number | null>();
  const waiting = new Map<number, Delta[]>();
  const wanted = new Set<number>();
  let generation = 0;
  let fetchTimer = 0;
  const cardsPath = `${path.replace(/^\/ws\/boards\//, "/api/boards/")}/cards`;

  /** Apply one delta; false when the card must be fetched first. */
  const apply = (d: Delta): boolean => {
    const held = board.cards.get(d.id);
    const at = versions.get(d.id) ?? null;
    if (d.p !== 0) {
      if (!held) return false;
      if (at !== null && d.v <= at) return true; // already applied
      if (at !== null && at !== d.p) return false; // a change this board never saw
    }
    board.cards.set(d.id, applySet(d.p === 0 ? null : held!, d.id, d.set));
    versions.set(d.id, d.v);
    return true;
  };

  const fetchCards = () => {
    fetchTimer = 0;
    const ids = [...wanted].slice(0, CARDS_PER_FETCH);
    if (ids.length === 0) return;
    ids.forEach((id) => wanted.delete(id));
    const asked = generation;
    const query = ids.map((id) => `ids=${id}`).join("&");
    api<BoardCards>(`${cardsPath}?${query}`).then((got) => {
      if (asked !== generation) return; // a snapshot came meanwhile: it is newer
      for (const card of got.cards) {
        // Fetched after the delta that asked for it: current; the deltas since apply on top.
        board.cards.set(card.id, card);
        versions.set(card.id, null);
      }
      for (const id of ids) {
        for (const d of waiting.get(id) ?? []) apply(d);
        waiting.delete(id);
      }
      schedule();
    }).catch(() => {
      if (asked !== generation) return;
      ids.forEach((id) => wanted.add(id));
      fetchTimer = window.setTimeout(fetchCards, FETCH_RETRY_MS);
    }).finally(() => {
      if (wanted.size > 0 && !fetchTimer) fetchTimer = window.setTimeout(fetchCards, 0);
    });
  };

  const channel = new LiveChannel<BoardSnapshot, Delta>(path, {
    snapshot(msg) {
      generation++;
      waiting.clear();
      wanted.clear();
      board.cards = new Map((msg.events ?? []).map((c) => [c.id, c]));
      versions = new Map([...board.cards.keys()].map((id) => [id, null]));
      if (msg.department_ids) board.departmentIds = msg.department_ids;
      // The feed's history comes with every snapshot; later deltas have greater seqs.
      if (msg.recent) board.feed = msg.recent.slice(0, FEED_SIZE);
      schedule();
    },
    deltas(deltas) {
      for (const d of deltas) {
        const parked = waiting.get(d.id);
        if (parked) parked.push(d);
        else if (!apply(d)) {
          waiting.set(d.id, [d]);
          wanted.add(d.id);
        }
        board.feed.unshift(d);
      }
      if (board.feed.length > FEED_SIZE) board.feed.length = FEED_SIZE;
      if (wanted.size > 0 && !fetchTimer) fetchTimer = window.setTimeout(fetchCards, 0);
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
