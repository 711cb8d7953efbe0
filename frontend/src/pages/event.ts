// 事件详情: one event with its point and grid, fields, assignments, photos and the whole
// timeline, kept live by /ws/events/{id}.

import { blobUrl, errorText, getEvent, getMatters } from "../api";
import { runningDeadline, alertOf } from "../board";
import { debounce, fill, h, keepFocus } from "../dom";
import { ASSIGNMENT_ROLE, ASSIGNMENT_STATUS, label, stepName, EVENT_STATUS, USER_ROLE } from "../labels";
import { createMap, disposeMap, gridStyle, L, loadLevel, names, pointMarker } from "../map";
import type { PageCtx } from "../page";
import { countdown, fmtFull } from "../time";
import type { Assignment, Card, EventDelta, EventDetail, EventSnapshot, Step } from "../types";
import { cameBackLine, note, statusBadge, urgentBadge } from "../ui";
import { LiveChannel, connIndicator } from "../ws";
import { closePartActions } from "./closepart";
import { mergePanel } from "./event-merge";
import { eventEscalation } from "./escalations";
import { eventDisputeSection } from "./dispute";
import { superviseActions } from "./notices";

const ANY_STATUS = { ...EVENT_STATUS, ...ASSIGNMENT_STATUS };
const CRS: Record<string, string> = { wgs84: "WGS84", gcj02: "GCJ-02", bd09: "BD-09" };

export function eventPage(ctx: PageCtx): void {
  const id = Number(ctx.param);
  let detail: EventDetail | null = null;
  let placeNames: Record<string, string> = {};
  let matterNames = new Map<string, string>();
  const photoUrls = new Map<number, string>();
  const light = connIndicator();
  const msg = note("event-error");
  const closePart = closePartActions(ctx.user);
  const escalation = eventEscalation(ctx.user, id, () => render());
  ctx.onCleanup(() => escalation.cancel());
  const supervise = superviseActions();

  const title = h("h1", null, `事件 #${id}`);
  const statusEl = h("span", { testid: "event-status", "data-status": "" });
  const mapEl = h("div", { class: "map map-small", testid: "event-map" });
  const fields = h("dl", { class: "fields", testid: "event-fields" });
  const assignmentsEl = h("div", { class: "list", testid: "event-assignments" });
  const photosEl = h("div", { class: "thumbs thumbs-large", testid: "event-photos" });
  const timeline = h("ol", { class: "timeline", testid: "timeline" });
  const merging = mergePanel(id, ctx.user.role, ctx.alive);
  const dispute = eventDisputeSection(id, ctx.alive);
  ctx.root.append(h("div", { class: "page page-event" },
    h("div", { class: "page-head" }, title, statusEl, light.el),
    msg.el,
    h("div", { class: "event-grid" },
      h("section", { class: "panel" }, mapEl, fields),
      h("div", null,
        merging.el,
        dispute.el,
        h("section", { class: "panel" }, h("h2", null, "处置部门"), assignmentsEl),
        h("section", { class: "panel" }, h("h2", null, "照片"), photosEl),
        h("section", { class: "panel" }, h("h2", null, "办理过程"), timeline)))));

  const map = createMap(mapEl, { zoomControl: true });
  ctx.onCleanup(() => disposeMap(map));
  let mapped = false;

  function drawMap(d: EventDetail) {
    if (mapped) return;
    mapped = true;
    pointMarker(d.lat, d.lon).addTo(map);
    map.setView([d.lat, d.lon], 16);
    if (!d.grid_code) return;
    loadLevel("grid").then((fc) => {
      const grid = fc.features.find((f) => f.properties.code === d.grid_code);
      if (!grid || !ctx.alive()) return;
      const layer = L.geoJSON(grid, { interactive: false, style: { ...gridStyle, dashArray: undefined, weight: 2, fill: true, fillOpacity: 0.08 } }).addTo(map);
      map.fitBounds(layer.getBounds().extend([d.lat, d.lon]), { padding: [16, 16], maxZoom: 17 });
    }).catch(() => undefined);
  }

  function render() {
    const d = detail;
    if (!d || !ctx.alive()) return;
    drawMap(d);
    merging.update(d);
    dispute.update(d);
    fill(statusEl, statusBadge(d.status), " ", urgentBadge(d.urgent), " ", escalation.badge());
    statusEl.dataset.status = d.status;
    const place = [d.township_code, d.village_code, d.grid_code].map((c) => (c ? (placeNames[c] ?? c) : null)).filter(Boolean).join(" · ");
    const matter = d.matter_code ? `${d.matter_code} ${matterNames.get(d.matter_code) ?? ""}` : "未定（待研判）";
    const rows: [string, string | Node, string][] = [
      ["状态", label(EVENT_STATUS, d.status), "field-status"],
      ["描述", d.description, "field-description"],
      ["位置", place || "—", "field-place"],
      ["地址", d.address || "—", "field-address"],
      ["坐标", `${d.lon.toFixed(6)}, ${d.lat.toFixed(6)}（WGS84；上报 ${CRS[d.crs] ?? d.crs} ${d.raw_lon.toFixed(6)}, ${d.raw_lat.toFixed(6)}）`, "field-coords"],
      ["事项", matter, "field-matter"],
      ["紧急程度", d.urgent ? "紧急" : "一般", "field-urgency"],
      ["上报时间", fmtFull(d.reported_at), "field-reported"],
      ["签收时限", fmtFull(d.sign_by), "field-sign-by"],
      ["办结时限", fmtFull(d.handle_by), "field-handle-by"],
    ];
    if (d.closed_at) rows.push(["办结时间", fmtFull(d.closed_at), "field-closed"]);
    if (d.rating !== null) rows.push(["回访评分", `${d.rating} 分`, "field-rating"]);
    if (d.rework_count) rows.push(["重办次数", String(d.rework_count), "field-rework"]);
    fill(fields, rows.map(([k, v, t]) => [h("dt", null, k), h("dd", { testid: t }, v)]));

    const restoreFocus = keepFocus(); // the rows are new; their open forms are kept and moved
    fill(assignmentsEl, d.assignments.length ? d.assignments.map(assignmentRow) : h("p", { class: "muted" }, "尚未派单"));
    restoreFocus();
    showPhotos(d);

    const steps = [...d.steps].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : b.id - a.id));
    fill(timeline, steps.map(stepRow));
  }

  function assignmentRow(a: Assignment): HTMLElement {
    const live = a.status === "pending" || a.status === "signed";
    return h("div", { class: `item assignment status-${a.status}`, testid: "detail-assignment", "data-assignment-id": a.id, "data-status": a.status },
      h("div", { class: "card-line" },
        h("b", null, a.department_name), a.on_behalf_of_name ? h("span", { class: "muted" }, `（代 ${a.on_behalf_of_name}）`) : null,
        h("span", { class: `badge role-${a.role}` }, label(ASSIGNMENT_ROLE, a.role)),
        h("span", { class: `badge astatus-${a.status}` }, label(ASSIGNMENT_STATUS, a.status)),
        a.round > 1 ? h("span", { class: "muted" }, `第${a.round}轮`) : null),
      live ? countdown(a.status === "pending" ? "签收" : "办结", runningDeadline(a), a.created_at ?? detail?.received_at ?? null, alertOf(a)) : null,
      a.duties_text || a.duties.length ? h("div", { class: "muted small" }, `职责：${a.duties_text ?? a.duties.join("；")}`) : null,
      a.feedback ? h("div", null, `反馈：${a.feedback}`) : null,
      // A return is current only while the part is returned; once refused or redispatched the
      // timeline keeps it, and a refused part says why it came back.
      a.status === "returned" && a.return_reason
        ? h("div", { testid: "detail-return" }, `退回理由：${a.return_reason}`, a.return_clause ? `（依据：${a.return_clause}）` : "")
        : null,
      live ? cameBackLine(a) : null,
      detail ? closePart(detail, a) : null,
      escalation.forPart(a),
      detail ? supervise(detail, a) : null);
  }

  /** Who did a step: the display name and, for a person, the role's label. */
  function actorText(s: Step): string {
    if (!s.actor) return "";
    const role = s.actor_role ? USER_ROLE[s.actor_role] : undefined;
    return role && role !== s.actor ? `${s.actor}（${role}）` : s.actor;
  }

  function stepRow(s: Step): HTMLElement {
    const orgs = [s.from_org, s.to_org].filter(Boolean).join(" → ");
    const statuses = s.from_status || s.to_status ? `${label(ANY_STATUS, s.from_status)} → ${label(ANY_STATUS, s.to_status)}` : "";
    return h("li", { testid: "timeline-step", "data-action": s.action, "data-step-id": s.id },
      h("div", { class: "card-line" }, h("b", { testid: "step-name" }, stepName(s.action)), h("span", { class: "muted" }, fmtFull(s.at))),
      s.actor || orgs ? h("div", { class: "small" }, h("span", { testid: "step-actor" }, actorText(s)), orgs ? `　${orgs}` : "") : null,
      statuses ? h("div", { class: "muted small" }, statuses) : null,
      s.reason ? h("div", { class: "small" }, `说明：${s.reason}`) : null);
  }

  function showPhotos(d: EventDetail) {
    const list = d.attachments ?? [];
    if (list.length === 0) {
      fill(photosEl, h("p", { class: "muted" }, "无照片"));
      return;
    }
    if (photosEl.querySelector("p")) photosEl.replaceChildren();
    for (const a of list) {
      if (photosEl.querySelector(`[data-attachment-id="${a.id}"]`)) continue;
      const img = h("img", { alt: a.file_name, "data-attachment-id": a.id, testid: "event-photo" });
      const link = h("a", { target: "_blank", rel: "noopener" }, img);
      const feedback = d.assignments.find((x) => x.id === a.assignment_id);
      photosEl.append(h("figure", null, link, h("figcaption", { class: "small muted" }, feedback ? `${feedback.department_name} 反馈` : "上报照片")));
      blobUrl(`/api/attachments/${a.id}`).then((url) => {
        if (!ctx.alive()) return URL.revokeObjectURL(url);
        photoUrls.set(a.id, url);
        img.src = url;
        link.href = url;
      }).catch(() => (img.alt = `${a.file_name}（加载失败）`));
    }
  }
  ctx.onCleanup(() => photoUrls.forEach((u) => URL.revokeObjectURL(u)));

  /** A delta's card and steps folded into the detail (the card's description may be cut). */
  function applyDelta(card: Card, steps: Step[]) {
    if (!detail) return;
    const { description: _cut, assignments, ...rest } = card;
    void _cut;
    const known = new Set(detail.steps.map((s) => s.id));
    detail = {
      ...detail,
      ...pick(rest, ["status", "township_code", "matter_code", "platform_code", "urgent", "sign_by", "handle_by", "closed_at", "rating", "rework_count"]),
      assignments,
      steps: [...detail.steps, ...steps.filter((s) => !known.has(s.id))],
    };
    if (card.township_code && card.township_name) placeNames[card.township_code] = card.township_name;
  }

  const refetch = debounce(() => {
    getEvent(id).then((d) => {
      detail = d;
      render();
    }).catch(() => undefined);
  }, 600);
  ctx.onCleanup(() => refetch.cancel());

  Promise.all([names("township"), names("village"), names("grid")]).then((maps) => {
    placeNames = Object.fromEntries(maps.flatMap((m) => [...m].map(([code, p]) => [code, p.name])));
    render();
  }).catch(() => undefined);
  getMatters().then((m) => {
    matterNames = new Map(m.matters.map((x) => [x.code, x.name]));
    render();
  }).catch(() => undefined);

  getEvent(id).then((d) => {
    if (!detail) detail = d;
    render();
  }).catch((err) => msg.show(errorText(err), "error"));

  const channel = new LiveChannel<EventSnapshot, EventDelta>(`/ws/events/${id}`, {
    snapshot(m) {
      detail = m.event;
      render();
    },
    deltas(deltas) {
      for (const d of deltas) applyDelta(d.event, d.steps ?? []);
      render();
      refetch();
      escalation.refresh();
    },
    state(s) {
      light.set(s);
      if (s === "forbidden") msg.show("无权查看该事件", "error");
      if (s === "notfound") msg.show("事件不存在", "error");
    },
  });
  ctx.onCleanup(() => channel.stop());
}

function pick<T extends object, K extends keyof T>(obj: T, keys: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of keys) if (k in obj) out[k] = obj[k];
  return out;
}
