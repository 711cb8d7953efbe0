// ① 位置 of a report: the map (township outlines, the grids when zoomed in), the phone's
// position, and the township / village / grid the server finds there. With no network the
// point is kept unlocated: the server locates it when the report arrives.

import { api, errorText, getConfig, NetworkError } from "../api";
import { fill, h } from "../dom";
import { createMap, disposeMap, gridStyle, type JCollection, type JFeature, insideTownship, L, loadLevel, outlineStyle, pointMarker } from "../map";
import type { PageCtx } from "../page";
import type { LocateResult } from "../types";
import { note } from "../ui";
import type { Draft } from "./drafts";
import { browserPosition, dingTalkPosition } from "./position";

const GRID_ZOOM = 13;
/** The user's township outline as last loaded: the map offline (public reference data). */
export const outlineKey = (townshipCode: string) => `sipingtai.outline.${townshipCode}`;
const LEVEL_NAMES: Record<string, string> = { township: "乡镇（街道）", village: "村（社区）", grid: "网格" };

export interface Place {
  el: HTMLElement;
  /** Why the point cannot be sent yet, or null. */
  problem(): string | null;
  /** Locate the draft's point again (on opening, and when the network returns). */
  relocate(): void;
}

/** The location section of a draft; changed() after every change of the point or its check. */
export function placePicker(ctx: PageCtx, draft: Draft, changed: () => void): Place {
  const { user } = ctx;
  let located: LocateResult | null = null;
  let locateOffline = false;
  let nearM = 50;
  getConfig().then((cfg) => (nearM = cfg.near_boundary_m || nearM)).catch(() => undefined);
  let locateSeq = 0;

  // The map: township outlines, and the grids of the user's township when zoomed in.
  const mapEl = h("div", { class: "map map-report", testid: "report-map" });
  const map = createMap(mapEl);
  ctx.onCleanup(() => disposeMap(map));
  let marker: L.CircleMarker | null = null;
  let gridLayer: L.GeoJSON | null = null;
  let outlines: L.GeoJSON | null = null;
  let outlinesFailed = false;
  const drawOutlines = () => loadLevel("township").then((fc) => {
    if (!ctx.alive()) return;
    if (outlines) map.removeLayer(outlines);
    mapMsg.clear();
    const layer = L.geoJSON(fc, {
      interactive: false,
      style: (f) => (f?.properties.code === user.township_code ? { ...outlineStyle, weight: 3 } : outlineStyle),
    }).addTo(map);
    outlines = layer;
    const own = fc.features.find((f) => f.properties.code === user.township_code);
    if (own) keepOutline(own);
    frame(own ? L.geoJSON(own).getBounds() : layer.getBounds());
  }).catch((err) => {
    outlinesFailed = true;
    // Offline: the outline of the user's own township from the last visit, so a tap still works.
    const own = savedOutline();
    if (!ctx.alive() || outlines) return;
    if (!own) {
      mapMsg.show(`地图加载失败：${errorText(err)}`, "error");
      return;
    }
    outlines = L.geoJSON(own, { interactive: false, style: { ...outlineStyle, weight: 3 } }).addTo(map);
    frame(L.geoJSON(own).getBounds());
    mapMsg.show("当前无网络：地图只显示本乡镇边界（上次联网时保存）", "info");
  });
  void drawOutlines();
  function frame(bounds: L.LatLngBounds) {
    if (mapEl.dataset.framed === "1") return; // the worker may have moved the map since
    if (draft.lat !== null && draft.lon !== null && marker) map.setView(marker.getLatLng(), 15);
    else map.fitBounds(bounds);
    mapEl.dataset.framed = "1"; // the map now shows the user's township (tests wait for this)
  }
  function keepOutline(own: JFeature) {
    try {
      localStorage.setItem(outlineKey(own.properties.code), JSON.stringify(own));
    } catch {
      /* no room: the map is only blank offline */
    }
  }
  function savedOutline(): JFeature | null {
    try {
      return user.township_code ? (JSON.parse(localStorage.getItem(outlineKey(user.township_code)) ?? "null") as JFeature | null) : null;
    } catch {
      return null;
    }
  }
  const showGrids = () => {
    if (!user.township_code || map.getZoom() < GRID_ZOOM) {
      if (gridLayer) map.removeLayer(gridLayer);
      return;
    }
    if (gridLayer) {
      gridLayer.addTo(map);
      return;
    }
    insideTownship(user.township_code).then(({ grids }) => {
      if (!ctx.alive() || gridLayer) return;
      const fc: JCollection = { type: "FeatureCollection", features: grids };
      gridLayer = L.geoJSON(fc, { interactive: false, style: gridStyle });
      if (map.getZoom() >= GRID_ZOOM) gridLayer.addTo(map);
    }).catch(() => undefined);
  };
  map.on("zoomend", showGrids);
  map.on("click", (ev: L.LeafletMouseEvent) => place(ev.latlng.lng, ev.latlng.lat, "wgs84"));

  const mapMsg = note("map-status");
  const hereBtn = h("button", { type: "button", class: "btn", testid: "locate-me" }, "使用当前位置");
  const coordsEl = h("span", { class: "muted", testid: "coords" }, "在地图上点选事件位置");
  const locateEl = h("div", { class: "locate-result", testid: "locate-result", "data-state": "none" });
  const nearBox = h("input", { type: "checkbox", testid: "near-boundary-confirm" });
  const nearText = h("span");
  const nearEl = h("label", { class: "near-boundary", testid: "near-boundary", hidden: true }, nearBox, nearText);

  async function place(lon: number, lat: number, crs: "wgs84" | "gcj02", fromDraft = false) {
    draft.lon = lon;
    draft.lat = lat;
    draft.crs = crs;
    located = null;
    locateOffline = false;
    nearBox.checked = false;
    nearEl.hidden = true;
    if (crs === "wgs84") putMarker(lat, lon, !fromDraft);
    coordsEl.textContent = `${crs === "gcj02" ? "GCJ-02" : "WGS84"} ${lon.toFixed(6)}, ${lat.toFixed(6)}`;
    locateEl.dataset.state = "loading";
    fill(locateEl, "正在确定所属网格…");
    changed();
    const mine = ++locateSeq;
    try {
      const result = await api<LocateResult>(`/api/locate?lon=${lon}&lat=${lat}&crs=${crs}`);
      if (mine !== locateSeq || !ctx.alive()) return;
      located = result;
      if (crs !== "wgs84") putMarker(result.wgs84.lat, result.wgs84.lon, true);
      showLocated(result);
    } catch (err) {
      if (mine !== locateSeq || !ctx.alive()) return;
      locateOffline = err instanceof NetworkError;
      locateEl.dataset.state = locateOffline ? "offline" : "error";
      fill(locateEl, locateOffline
        ? "当前无网络，暂时无法确定所属网格；可先提交为待发送，联网后由系统定位"
        : `定位查询失败：${errorText(err)}`);
    }
    changed();
  }

  function putMarker(lat: number, lon: number, pan: boolean) {
    if (marker) marker.setLatLng([lat, lon]);
    else marker = pointMarker(lat, lon).addTo(map);
    if (pan) map.setView([lat, lon], Math.max(map.getZoom() || 0, 15));
  }

  function showLocated(r: LocateResult) {
    const chain = r.chain.filter((c) => c.level in LEVEL_NAMES);
    if (r.chain.length === 0) {
      locateEl.dataset.state = "outside";
      fill(locateEl, h("strong", null, "无法上报："), r.reason ?? "该位置不在任何辖区内", "。请重新选择位置。");
      return;
    }
    locateEl.dataset.state = "ok";
    fill(locateEl, chain.map((c) => h("div", { "data-level": c.level }, h("span", { class: "muted" }, `${LEVEL_NAMES[c.level]}：`), c.name)));
    if (r.near_boundary) {
      const { name, distance_m } = r.near_boundary;
      nearText.textContent = ` 该位置距离${name}不足${nearM}米（约${Math.round(distance_m)}米），请确认位置是否正确。勾选表示位置无误。`;
      nearEl.hidden = false;
    }
  }

  hereBtn.addEventListener("click", async () => {
    hereBtn.disabled = true;
    mapMsg.show("正在获取当前位置…");
    try {
      const dd = dingTalkPosition();
      const pos = dd ? await dd : await browserPosition();
      if (!ctx.alive()) return;
      mapMsg.clear();
      await place(pos.lon, pos.lat, dd ? "gcj02" : "wgs84");
    } catch (err) {
      mapMsg.show(`${(err as Error).message || "定位失败"}，请在地图上点选位置`, "error");
    } finally {
      hereBtn.disabled = false;
    }
  });
  nearBox.addEventListener("change", () => changed());

  return {
    el: h("section", { class: "panel" },
      h("h2", null, "① 位置"), mapEl,
      h("div", { class: "row" }, hereBtn, coordsEl), mapMsg.el, locateEl, nearEl),
    problem() {
      if (draft.lon === null || draft.lat === null) return "请先在地图上选择事件位置";
      if (!located && !locateOffline) return "正在确定所属网格，请稍候";
      if (located && located.chain.length === 0) return located.reason ?? "该位置不在任何辖区内";
      if (located?.near_boundary && !nearBox.checked) return "请确认位置是否正确";
      return null;
    },
    relocate() {
      if (navigator.onLine && outlinesFailed) {
        outlinesFailed = false;
        void drawOutlines();
      }
      if (draft.lon !== null && draft.lat !== null && (locateOffline || !located)) void place(draft.lon, draft.lat, draft.crs, true);
    },
  };
}
