// The command centre's list of events as a hash route: `#/events?status=a,b&township=…`, so a
// link (a counter, a map area) opens the same list, and a reload keeps it.

import vocabulary from "./vocabulary.json";

export interface ListFilters {
  status: string[];
  township: string;
  department: string;
  matter: string;
  platform: string;
  /** "true" overdue only, "false" on time only, "" either. */
  overdue: string;
  /** China calendar days, "2026-03-05"; until is inclusive. */
  since: string;
  until: string;
  q: string;
  /** 1-based. */
  page: number;
}

const TEXT_KEYS = ["township", "department", "matter", "platform", "overdue", "since", "until", "q"] as const;

export const OPEN_STATUSES: string[] = vocabulary.open_event_status;

export const emptyFilters = (): ListFilters => ({
  status: [], township: "", department: "", matter: "", platform: "", overdue: "", since: "", until: "", q: "", page: 1,
});

/** The hash of the list with these filters (only the ones set). */
export function listHref(f: Partial<ListFilters>): string {
  const params = new URLSearchParams();
  if (f.status?.length) params.set("status", f.status.join(","));
  for (const key of TEXT_KEYS) if (f[key]) params.set(key, String(f[key]));
  if (f.page && f.page > 1) params.set("page", String(f.page));
  const query = params.toString();
  return `#/events${query ? `?${query}` : ""}`;
}

/** The filters a hash names; unknown keys are ignored. */
export function parseListHash(hash: string): ListFilters {
  const at = hash.indexOf("?");
  const params = new URLSearchParams(at >= 0 ? hash.slice(at + 1) : "");
  const f = emptyFilters();
  f.status = (params.get("status") ?? "").split(",").filter(Boolean);
  for (const key of TEXT_KEYS) f[key] = params.get(key) ?? "";
  f.page = Math.max(1, Number.parseInt(params.get("page") ?? "1", 10) || 1);
  return f;
}

const DAY = /^\d{4}-\d{2}-\d{2}$/;

function nextDay(day: string): string {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** The query of GET /api/events for these filters and one page of `limit`. */
export function apiQuery(f: ListFilters, limit: number): URLSearchParams {
  const params = new URLSearchParams();
  for (const s of f.status) params.append("status", s);
  for (const key of ["township", "department", "matter", "platform", "overdue"] as const) if (f[key]) params.set(key, f[key]);
  if (DAY.test(f.since)) params.set("since", `${f.since}T00:00:00+08:00`);
  if (DAY.test(f.until)) params.set("until", `${nextDay(f.until)}T00:00:00+08:00`);
  if (f.q.trim()) params.set("q", f.q.trim());
  params.set("limit", String(limit));
  params.set("offset", String((f.page - 1) * limit));
  return params;
}
