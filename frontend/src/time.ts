// Times arrive as ISO 8601 (UTC); users read them in China time.

const TZ = "Asia/Shanghai";
const dayFmt = new Intl.DateTimeFormat("en-CA", { timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit" });
const shortFmt = new Intl.DateTimeFormat("zh-CN", {
  timeZone: TZ, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
});
const fullFmt = new Intl.DateTimeFormat("zh-CN", {
  timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});
const clockFmt = new Intl.DateTimeFormat("zh-CN", {
  timeZone: TZ, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
});

/** Milliseconds since the epoch; a time without a zone is taken as UTC. */
export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const zoned = /([zZ]|[+-]\d\d:?\d\d)$/.test(iso) ? iso : `${iso}Z`;
  const ms = Date.parse(zoned);
  return Number.isNaN(ms) ? null : ms;
}

export const fmtShort = (iso: string | null | undefined) => fmtWith(shortFmt, iso);
export const fmtFull = (iso: string | null | undefined) => fmtWith(fullFmt, iso);
export const fmtClock = (iso: string | null | undefined) => fmtWith(clockFmt, iso);

function fmtWith(f: Intl.DateTimeFormat, iso: string | null | undefined): string {
  const ms = parseTime(iso);
  return ms === null ? "—" : f.format(ms);
}

/** The China calendar day ("2026-03-05") of a time, or of now. */
export function chinaDay(iso?: string | null): string {
  const ms = iso === undefined ? Date.now() : parseTime(iso);
  return ms === null ? "" : dayFmt.format(ms);
}

/** "2天3小时", "3小时12分", "12分30秒". */
export function fmtDuration(ms: number): string {
  const s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400);
  const hh = Math.floor((s % 86400) / 3600);
  const mm = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}天${hh}小时`;
  if (hh > 0) return `${hh}小时${mm}分`;
  return `${mm}分${s % 60}秒`;
}

export type DeadlineState = "none" | "ok" | "warn" | "overdue";

/** ok, warn (≥70% of the time since start used, or the server's yellow alert) or overdue. */
export function deadlineState(deadline: number | null, start: number | null, alert = 0, now = Date.now()): DeadlineState {
  if (deadline === null) return "none";
  if (now >= deadline || alert >= 2) return "overdue";
  if (alert === 1) return "warn";
  if (start !== null && deadline > start && (now - start) / (deadline - start) >= 0.7) return "warn";
  return "ok";
}

/** A live countdown element; tickCountdowns() keeps its text and colour current. */
export function countdown(label: string, deadline: string | null, start: string | null, alert = 0): HTMLElement {
  const el = document.createElement("span");
  el.className = "countdown";
  el.dataset.testid = "countdown";
  el.dataset.label = label;
  el.dataset.deadline = String(parseTime(deadline) ?? "");
  el.dataset.start = String(parseTime(start) ?? "");
  el.dataset.alert = String(alert);
  updateCountdown(el, Date.now());
  return el;
}

function updateCountdown(el: HTMLElement, now: number): void {
  const deadline = el.dataset.deadline ? Number(el.dataset.deadline) : null;
  const start = el.dataset.start ? Number(el.dataset.start) : null;
  const state = deadlineState(deadline, start, Number(el.dataset.alert || 0), now);
  el.dataset.state = state;
  const label = el.dataset.label ?? "";
  let text: string;
  if (deadline === null) text = `${label}：无时限`;
  else if (now >= deadline) text = `${label}已超期 ${fmtDuration(now - deadline)}`;
  else text = `${label}剩余 ${fmtDuration(deadline - now)}`;
  if (el.textContent !== text) el.textContent = text;
}

export function tickCountdowns(root: ParentNode = document): void {
  const now = Date.now();
  root.querySelectorAll<HTMLElement>(".countdown").forEach((el) => updateCountdown(el, now));
}
