// Leaflet with the jurisdictions served by the API. The tile layer comes from /api/config and
// is empty by default: then the map is outlines on a plain background and works offline.

import * as L from "leaflet";
import "leaflet/dist/leaflet.css";
import type { Feature, FeatureCollection, Geometry } from "geojson";
import { api, getConfig } from "./api";
import type { JurisdictionProps } from "./types";

export { L };
export type JFeature = Feature<Geometry, JurisdictionProps>;
export type JCollection = FeatureCollection<Geometry, JurisdictionProps>;
export type Level = "township" | "village" | "grid";

/** A map in el; tiles (if configured) arrive with the config. Removed with map.remove(). */
export function createMap(el: HTMLElement, options: L.MapOptions = {}): L.Map {
  el.classList.add("map");
  const map = L.map(el, { attributionControl: false, zoomSnap: 0.5, ...options });
  let removed = false;
  map.on("unload", () => (removed = true));
  getConfig()
    .then((cfg) => {
      if (removed) return;
      if (cfg.tile_url) {
        L.control.attribution({ prefix: false }).addTo(map);
        L.tileLayer(cfg.tile_url, { attribution: cfg.tile_attribution, maxZoom: 19 }).addTo(map);
      } else {
        el.classList.add("map-blank");
      }
      const [lat, lon] = cfg.center ?? [0, 0];
      if (!(map as unknown as { _loaded?: boolean })._loaded && (lat || lon)) map.setView([lat, lon], 10);
    })
    .catch(() => el.classList.add("map-blank"));
  const resize = new ResizeObserver(() => {
    if (!removed) map.invalidateSize();
  });
  resize.observe(el);
  map.on("unload", () => resize.disconnect());
  return map;
}

const levels = new Map<Level, Promise<JCollection>>();

/** One level of jurisdictions (simplified for display), fetched once. */
export function loadLevel(level: Level): Promise<JCollection> {
  let p = levels.get(level);
  if (!p) {
    p = api<JCollection>(`/api/jurisdictions?level=${level}&simplify_m=20`);
    levels.set(level, p);
    p.catch(() => levels.delete(level));
  }
  return p;
}

/** code → properties of one level. */
export async function names(level: Level): Promise<Map<string, JurisdictionProps>> {
  const fc = await loadLevel(level);
  return new Map(fc.features.map((f) => [f.properties.code, f.properties]));
}

/** The villages and grids inside one township. */
export async function insideTownship(code: string): Promise<{ villages: JFeature[]; grids: JFeature[] }> {
  const [vs, gs] = await Promise.all([loadLevel("village"), loadLevel("grid")]);
  const villages = vs.features.filter((f) => f.properties.parent_code === code);
  const vcodes = new Set(villages.map((f) => f.properties.code));
  const grids = gs.features.filter((f) => vcodes.has(f.properties.parent_code ?? ""));
  return { villages, grids };
}

export const outlineStyle: L.PathOptions = { color: "#1f5fa8", weight: 1.5, fill: true, fillOpacity: 0.04 };
export const gridStyle: L.PathOptions = { color: "#6b8fb8", weight: 0.8, dashArray: "3 3", fill: false };

/** Permanent names on the areas of a GeoJSON layer, at each area's centre (text, never HTML). */
export function areaLabels(map: L.Map, areas: L.GeoJSON): L.LayerGroup {
  const labels = L.layerGroup();
  areas.eachLayer((layer) => {
    const props = ((layer as L.Polygon).feature as JFeature | undefined)?.properties;
    if (!props) return;
    const el = document.createElement("span");
    el.textContent = props.name;
    el.dataset.testid = "map-label";
    el.dataset.code = props.code;
    const icon = L.divIcon({ className: "area-label", html: el, iconSize: [0, 0] });
    L.marker((layer as L.Polygon).getCenter(), { icon, interactive: false, keyboard: false }).addTo(labels);
  });
  return labels.addTo(map);
}

/** A tooltip that shows text as text (never HTML). */
export function textTooltip(layer: L.Layer, ...lines: string[]): void {
  const el = document.createElement("div");
  for (const line of lines) {
    const div = document.createElement("div");
    div.textContent = line;
    el.appendChild(div);
  }
  layer.bindTooltip(el, { sticky: true });
}

/** The red dot of an event's point. */
export function pointMarker(lat: number, lon: number): L.CircleMarker {
  return L.circleMarker([lat, lon], {
    radius: 9, color: "#ffffff", weight: 2, fillColor: "#d9381e", fillOpacity: 1,
  });
}

/** Remove a map, even mid-animation (Leaflet's zoom-end timer would touch the removed panes). */
export function disposeMap(map: L.Map): void {
  (map as unknown as { _animatingZoom: boolean })._animatingZoom = false;
  map.remove();
}
