// Sending the reports on this phone: one attempt at a time per report (Web Locks across tabs
// where the browser has them), always the report's own client_id, so the server answers a
// repeat with the event it already has. Queued reports (待发送) go when the network returns
// (the `online` event) or on a timer that backs off while the network stays bad.

import { ApiError, api, NetworkError, uploadPhoto } from "../api";
import type { EventPublic } from "../types";
import { type Draft, getDraft, listDrafts, pruneSent, putDraft } from "./drafts";
import { remember } from "./recent";

export type SendResult =
  | { kind: "sent"; event_id: number; failed_photos: string[] }
  | { kind: "refused"; message: string } // the server said no: the report is a 草稿 again
  | { kind: "later"; message: string }; // no answer (or 5xx/429): still 待发送

const FIRST_DELAY_MS = 5_000;
const MAX_DELAY_MS = 5 * 60_000;

/** Whether an error means "try again later" rather than "the server refused it". */
export const transient = (err: unknown) =>
  err instanceof NetworkError || (err instanceof ApiError && (err.status >= 500 || [401, 408, 429].includes(err.status)));

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

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
    p = (locks ? locks.request(`sipingtai.send.${clientId}`, attempt) : attempt()).finally(() => inFlight.delete(clientId));
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
  if (d.event_id === null) {
    try {
      const event = await api<EventPublic>("/api/events", { method: "POST", json: eventBody(d) });
      d.event_id = event.id;
      d.error = null;
      remember(d.username, event);
      await putDraft(d);
    } catch (err) {
      const later = transient(err);
      d.error = later ? `尚未发送成功：${message(err)}` : `未被受理，已退回草稿：${message(err)}`;
      if (!later) d.state = "draft";
      await putDraft(d);
      return later ? { kind: "later", message: d.error } : { kind: "refused", message: message(err) };
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
      if (transient(err)) {
        d.error = `事件已上报，照片尚未上传完：${message(err)}`;
        await putDraft(d);
        return { kind: "later", message: d.error };
      }
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
  let delay = FIRST_DELAY_MS;
  let timer = 0;
  let busy = false;
  let stopped = false;
  const flush = async () => {
    if (busy || stopped) return;
    busy = true;
    let trouble = false;
    try {
      for (const d of (await listDrafts(username)).filter((x) => x.state === "queued")) {
        if ((await sendReport(d.client_id)).kind === "later") {
          trouble = true;
          break;
        }
      }
    } catch {
      trouble = true;
    } finally {
      busy = false;
    }
    delay = trouble ? Math.min(delay * 2, MAX_DELAY_MS) : FIRST_DELAY_MS;
    schedule();
  };
  const schedule = () => {
    window.clearTimeout(timer);
    if (!stopped) timer = window.setTimeout(() => void flush(), delay);
  };
  const online = () => {
    delay = FIRST_DELAY_MS;
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
