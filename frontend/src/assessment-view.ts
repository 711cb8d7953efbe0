// The 考核 page's view as a hash route: `#/assessment?from=…&to=…&by=township&sort=…`, so a
// link opens the same period, dimension, order, chart and map, and a reload keeps them. Also
// how its numbers read: rates as percentages with what they are made of, minutes as hours.

import { chinaDay } from "./time";
import vocabulary from "./vocabulary.json";

export const DIMENSIONS = ["department", "unit", "township", "matter", "platform"] as const;
export type Dimension = (typeof DIMENSIONS)[number];
export const DIMENSION_TAB: Record<Dimension, string> = {
  department: "按部门", unit: "按单位", township: "按乡镇", matter: "按事项", platform: "按平台",
};
export const MAP_MEASURES = ["events_per_10k", "overdue_share"] as const;
export type MapMeasure = (typeof MAP_MEASURES)[number];

export interface AssessmentView {
  /** China calendar days, "2026-03-05", both included. */
  from: string;
  to: string;
  by: Dimension;
  /** "rank", "name" or a measure's key. */
  sort: string;
  dir: "asc" | "desc";
  /** The bar chart's measure. */
  bar: string;
  map: MapMeasure;
}

interface MeasureInfo {
  label: string;
  unit: string;
  higher_is_better: boolean | null;
}
export const MEASURE: Record<string, MeasureInfo> = vocabulary.measure;

/** A measure's name as people read it (the 90th percentile in words, not "P90"). */
export const measureLabel = (key: string) => (MEASURE[key]?.label ?? key).replace(/\s*P90$/, "（90分位）");

/** Each rate with the two counts it divides: numerator, denominator. */
export const RATE_PARTS: Record<string, [string, string]> = {
  on_time_sign_rate: ["signed_on_time", "due_for_signing"],
  on_time_completion_rate: ["completed_on_time", "due_for_completion"],
  completion_rate: ["completed", "parts"],
  return_rate: ["returned", "parts"],
  rework_rate: ["reworked", "fed_back_once"],
  satisfaction_rate: ["satisfied", "rated"],
};

const pad = (n: number) => String(n).padStart(2, "0");
const day = (y: number, m: number, d: number) => `${y}-${pad(m)}-${pad(d)}`;
const lastOfMonth = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();

/** The quick picks: this month, last month, this quarter, this year (to today, China time). */
export function quickPeriods(today = chinaDay()): { id: string; label: string; from: string; to: string }[] {
  const [y, m] = today.split("-").map(Number);
  const [py, pm] = m === 1 ? [y - 1, 12] : [y, m - 1];
  const q = Math.floor((m - 1) / 3) * 3 + 1;
  return [
    { id: "month", label: "本月", from: day(y, m, 1), to: today },
    { id: "last-month", label: "上月", from: day(py, pm, 1), to: day(py, pm, lastOfMonth(py, pm)) },
    { id: "quarter", label: "本季度", from: day(y, q, 1), to: today },
    { id: "year", label: "本年", from: day(y, 1, 1), to: today },
  ];
}

const isDay = (s: string | null): s is string => !!s && /^\d{4}-\d{2}-\d{2}$/.test(s);

/** The view a hash names; anything missing or unknown takes its default (this month by rank). */
export function parseView(hash: string): AssessmentView {
  const params = new URLSearchParams(hash.split("?")[1] ?? "");
  const [month] = quickPeriods();
  const by = params.get("by") as Dimension | null;
  const map = params.get("map") as MapMeasure | null;
  const sort = params.get("sort") ?? "rank";
  return {
    from: isDay(params.get("from")) ? String(params.get("from")) : month.from,
    to: isDay(params.get("to")) ? String(params.get("to")) : month.to,
    by: by && DIMENSIONS.includes(by) ? by : "department",
    sort: sort === "rank" || sort === "name" || sort in MEASURE ? sort : "rank",
    dir: params.get("dir") === "desc" ? "desc" : "asc",
    bar: params.get("bar") && params.get("bar") as string in MEASURE ? String(params.get("bar")) : "score",
    map: map && MAP_MEASURES.includes(map) ? map : "events_per_10k",
  };
}

/** The hash of a view (every part, so the link says exactly what it shows). */
export function viewHref(v: AssessmentView): string {
  const params = new URLSearchParams({ from: v.from, to: v.to, by: v.by, sort: v.sort, dir: v.dir, bar: v.bar, map: v.map });
  return `#/assessment?${params.toString()}`;
}

const count = new Intl.NumberFormat("zh-CN", { maximumFractionDigits: 0 });
const fixed = (digits: number) => new Intl.NumberFormat("zh-CN", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** A rate (0–1) as a percentage with one decimal: 92.0%. */
export const percent = (rate: number) => `${(rate * 100).toFixed(1)}%`;

/** Minutes as "3 小时 12 分", or "12.5 分" under an hour. */
export function minutesText(minutes: number): string {
  if (minutes < 60) return `${Number.isInteger(minutes) ? minutes : minutes.toFixed(1)} 分`;
  const whole = Math.round(minutes);
  return `${Math.floor(whole / 60)} 小时 ${whole % 60} 分`;
}

/** A measure's value as its unit reads; none as "—". */
export function valueText(key: string, value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  switch (MEASURE[key]?.unit) {
    case "rate": return percent(value);
    case "minutes": return minutesText(value);
    case "rating": case "per_10k": return fixed(2).format(value);
    case "score": return fixed(1).format(value);
    default: return count.format(value);
  }
}
