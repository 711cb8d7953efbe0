// Sending the reports on this phone: one attempt at a time per report (Web Locks across tabs
// where the browser has them), always the report's own client_id, so the server answers a
// repeat with the event it already has. Queued reports (待发送) go when the network returns
// (the `online` event) or on a timer that backs off while the network stays bad. When the server
// is busy and says for how long (503 or 429 with Retry-After), no report goes before that
// (backoff.ts): the server sheds load quickly, and the phone must not come straight back.

import { ApiError, api, NetworkError, uploadPhoto } from "../api";
import type { EventPublic } from "../types";
import { backoff, holdFor, holdLeft } from "./backoff";
import { type Draft, getDraft, listDrafts, pruneSent, putDraft } from "./drafts";
import { remember } from "./recent";

export type SendResult =
  | { kind: "sent"; event_id: number; failed_photos: string[] }
  | { kind: "refused"; message: string } // the server said no: the report is a 草稿 again
  // No answer (or 5xx/429): still 待发送; retry_in_ms is how long the server asked for, else null.
  | { kind: "later"; message: string; retry_in_ms: number | null };

const FIRST_DELAY_MS = 5_000;
const MAX_DELAY_MS = 5 * 60_000;
const HOLD_MARGIN_MS = 100; // a timer may fire a little before the hold ends

/** Whether an error means "try again later" rather than "the server refused it". */
export const transient = (err: unknown) =>
  err instanceof NetworkError || (err instanceof ApiError && (err.status >= 500 || [401, 408, 429].includes(err.status)));

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** What the grid worker reads while the server has asked the phone to wait. */
export function busyText(d: Draft, waitMs: number): string {
  const seconds = Math.max(1, Math.ceil(waitMs / 1_000));
  return d.event_id === null ? `服务繁忙，约 ${seconds} 秒后自动重试` : `事件已上报，服务繁忙，约 ${seconds} 秒后继续上传照片`;
}

/** Keep a report queued after a transient failure, holding every report when the server said how long. */
async function keepForLater(d: Draft, err: unknown, text: string): Promise<SendResult> {
  const asked = err instanceof ApiError ? err.retryAfter : null;
  const wait = asked === null ? null : holdFor(asked);
  d.error = wait === null ? text : busyText(d, wait);
  await putDraft(d);
  return { kind: "later", message: d.error, retry_in_ms: wait };
}

/** The body of POST /api/events for a report. */
export function eventBody(d: Draft) {
  return {
    client_id: d.client_id, reported_at: d.reported_at, lon: d.lon, lat: d.lat, crs: d.crs,
    address: d.address.trim() || null, description: d.description.trim(), matter_code: d.matter_code,
    urgency: d.urgent ? "urgent" : "normal", source: "grid", handled_on_site: d.handled_on_site,
    on_site_note: d.handled_on_site ? d.on_site_note.trim() || null : null,
  };
}

const inFlight = new Map<string, Promise<SendResult>>();

/** Try once to get a queued report and its photos to the server. */
export function sendReport(clientId: string): Promise<SendResult> {
  let p = inFlight.get(clientId);
  if (!p) {
    const locks = (navigator as Navigator & { locks?: LockManager }).locks;
    const attempt = () => attemptSend(clientId);
    // Awaited, so that either DOM typing of LockManager.request (TypeScript 5 or 7) reads SendResult.
    const run = async (): Promise<SendResult> => await (locks ? locks.request(`sipingtai.send.${clientId}`, attempt) : attempt());
    p = run().finally(() => inFlight.delete(clientId));
    inFlight.set(clientId, p);
  }
  return p;
}

async function attemptSend(clientId: string): Promise<SendResult> {
  // Read it afresh: another attempt may have created the event or uploaded photos meanwhile.
  const d = await getDraft(clientId);
  if (!d) return { kind: "refused", message: "该上报已删除" };
  if (d.state === "sent" && d.event_id !== null) return { kind: "sent", event_id: d.event_id, failed_photos: [] };
  if (d.state !== "queued") return { kind: "refused", message: "该上报已改回草稿" };
  const held = holdLeft();
  if (held > 0) {
    d.error = busyText(d, held);
    await putDraft(d);
    return { kind: "later", message: d.error, retry_in_ms: held };
  }
  if (d.event_id === null) {
    try {
      const event = await api<EventPublic>("/api/events", { method: "POST", json: eventBody(d) });
      d.event_id = event.id;
      d.error = null;
      remember(d.username, event);
      await putDraft(d);
    } catch (err) {
      if (transient(err)) return keepForLater(d, err, `尚未发送成功：${message(err)}`);
      d.error = `未被受理，已退回草稿：${message(err)}`;
      d.state = "draft";
      await putDraft(d);
      return { kind: "refused", message: message(err) };
    }
  }
  const failed: string[] = [];
  for (const photo of d.photos) {
    if (photo.uploaded || !photo.blob) continue;
    try {
      await uploadPhoto(d.event_id, new File([photo.blob], photo.name, { type: photo.type }));
      photo.uploaded = true;
      photo.blob = null;
    } catch (err) {
      if (transient(err)) return keepForLater(d, err, `事件已上报，照片尚未上传完：${message(err)}`);
      failed.push(photo.name); // refused for good (not an image, too big): never sent again
      photo.uploaded = true;
      photo.blob = null;
    }
    await putDraft(d);
  }
  d.state = "sent";
  d.error = failed.length ? `${failed.length} 张照片未能上传：${failed.join("、")}` : null;
  await putDraft(d);
  await pruneSent(d.username);
  return { kind: "sent", event_id: d.event_id, failed_photos: failed };
}

let stopCurrent: (() => void) | null = null;
let runningFor: string | null = null;

/** Send a user's queued reports now, when the network returns, and on a backing-off timer. */
export function startOutbox(username: string): void {
  if (runningFor === username) return;
  stopCurrent?.();
  runningFor = username;
  let failures = 0;
  let timer = 0;
  let busy = false;
  let stopped = false;
  const flush = async () => {
    if (busy || stopped) return;
    busy = true;
    let trouble = false;
    let asked: number | null = null; // the server's hold: the rest of the queue waits it out too
    try {
      for (const d of (await listDrafts(username)).filter((x) => x.state === "queued")) {
        const result = await sendReport(d.client_id);
        if (result.kind === "later") {
          trouble = true;
          asked = result.retry_in_ms;
          break;
        }
      }
    } catch {
      trouble = true;
    } finally {
      busy = false;
    }
    if (asked !== null) schedule(asked + HOLD_MARGIN_MS);
    else {
      failures = trouble ? failures + 1 : 0;
      schedule(backoff(failures, FIRST_DELAY_MS, MAX_DELAY_MS));
    }
  };
  const schedule = (ms: number) => {
    window.clearTimeout(timer);
    if (!stopped) timer = window.setTimeout(() => void flush(), ms);
  };
  const online = () => {
    failures = 0;
    void flush();
  };
  window.addEventListener("online", online);
  stopCurrent = () => {
    stopped = true;
    window.clearTimeout(timer);
    window.removeEventListener("online", online);
  };
  void flush();
}

/** Stop sending (signed out). */
export function stopOutbox(): void {
  stopCurrent?.();
  stopCurrent = null;
  runningFor = null;
}
