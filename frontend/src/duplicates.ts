// Likely duplicates (重复事件): what the report page warns of and the event page merges.

import { api } from "./api";
import type { components } from "./api-types";
import { h } from "./dom";
import { fmtShort } from "./time";
import { eventLink, statusBadge } from "./ui";

export type Candidate = components["schemas"]["DuplicateCandidate"];
export type Candidates = components["schemas"]["DuplicateCandidates"];
export type DraftProbe = components["schemas"]["DraftProbe"];

export const duplicatesOfEvent = (id: number) => api<Candidates>(`/api/events/${id}/duplicates`);
export const duplicatesOfDraft = (probe: DraftProbe, signal?: AbortSignal) =>
  api<Candidates>("/api/duplicates", { method: "POST", json: probe, signal });

/** "约 40 米" under a kilometre, "1.2 公里" beyond. */
export const fmtDistance = (m: number) => (m < 1000 ? `约 ${Math.round(m)} 米` : `${(m / 1000).toFixed(1)} 公里`);

/** "相隔 2 小时", "相隔 1 天 3 小时", "相隔不到 1 小时". */
export function fmtApart(hours: number): string {
  if (hours < 1) return "相隔不到 1 小时";
  const d = Math.floor(hours / 24);
  const hh = Math.floor(hours % 24);
  return d > 0 ? `相隔 ${d} 天${hh ? ` ${hh} 小时` : ""}` : `相隔 ${hh} 小时`;
}

/** One candidate as a list item: link, status, distance, time apart, when, what. */
export function candidateItem(c: Candidate, matterName: string | null, ...actions: (Node | null)[]): HTMLElement {
  return h("div", { class: "item duplicate", testid: "duplicate-candidate", "data-event-id": c.id, "data-status": c.status },
    h("div", { class: "card-line" }, eventLink(c.id), statusBadge(c.status),
      h("span", { testid: "duplicate-distance", "data-metres": c.distance_m }, fmtDistance(c.distance_m)),
      h("span", { class: "muted", testid: "duplicate-age", "data-hours": c.age_hours }, fmtApart(c.age_hours))),
    h("div", { class: "muted small" }, `上报于 ${fmtShort(c.reported_at)}`, matterName ? ` · ${matterName}` : ""),
    h("div", { class: "card-desc", testid: "duplicate-description" }, c.description),
    c.address ? h("div", { class: "muted small" }, `地址：${c.address}`) : null,
    ...actions);
}
