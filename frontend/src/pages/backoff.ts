// How long the phone waits before it sends again. When the server says how long (Retry-After on
// a 503 when it is saturated or its database is away, or a 429), every report waits that long:
// the hold is one for the whole phone (every report, the queue, every tab, through localStorage),
// since it is the server that is busy, not one report. Without it, an exponential backoff.
// Both get jitter, so the phones a busy server turned away do not all come back in one second.

const HOLD_KEY = "sipingtai.send.hold";

/** The longest the phone ever waits between two attempts (a wrong Retry-After cannot park it). */
export const MAX_WAIT_MS = 5 * 60_000;

/** A wait plus a random part of up to half of it (at least up to a second), capped. */
export function jittered(ms: number, random: () => number = Math.random): number {
  return Math.round(Math.min(MAX_WAIT_MS, ms + random() * Math.max(1_000, ms / 2)));
}

/** The wait before the next attempt of the nth retry (0-based) of an exponential backoff. */
export const backoff = (attempt: number, firstMs: number, maxMs: number) =>
  jittered(Math.min(maxMs, firstMs * 2 ** Math.min(attempt, 30)));

let heldInPage = 0; // where localStorage is refused (some private modes): this page only

function heldUntil(): number {
  let stored = 0;
  try {
    stored = Number(localStorage.getItem(HOLD_KEY) ?? 0) || 0;
  } catch {
    stored = 0;
  }
  return Math.max(heldInPage, stored);
}

/** Hold every attempt of this phone for the server's Retry-After plus jitter (a longer hold stays); return the wait (ms). */
export function holdFor(retryAfterS: number): number {
  const wait = jittered(Math.min(retryAfterS * 1_000, MAX_WAIT_MS));
  const until = Date.now() + wait;
  if (until > heldUntil()) {
    heldInPage = until;
    try {
      localStorage.setItem(HOLD_KEY, String(until));
    } catch {
      // kept in this page only
    }
  }
  return holdLeft();
}

/** How long every attempt must still wait (ms; 0: send now). */
export function holdLeft(now = Date.now()): number {
  const left = heldUntil() - now;
  return left > 0 ? Math.min(left, MAX_WAIT_MS) : 0;
}
