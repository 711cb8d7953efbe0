// The 考核 page's county map: townships shaded in five classes (light to dark) by events per
// 10,000 residents or by the share of parts overdue (1 − 按时办结率), with the classes' legend;
// a township's name and value on hover. Drawn with the county board's outlines (map.ts).

import { type MapMeasure, percent } from "../assessment-view";
import { fill, h } from "../dom";
import { createMap, disposeMap, L, loadLevel, outlineStyle } from "../map";

const SHADES: Record<MapMeasure, string[]> = {
  events_per_10k: ["#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c"],
  overdue_share: ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"],
};
export const MAP_LABEL: Record<MapMeasure, string> = { events_per_10k: "每万人事件数", overdue_share: "超期占比" };
const NO_DATA = "#e5e7eb";

export interface TownshipValue {
  name: string;
  value: number | null;
}

export interface ShadedMap {
  el: HTMLElement;
  /** Shade the townships by these values (code → value; missing: no data). */
  show(measure: MapMeasure, values: Map<string, TownshipValue>): void;
  /** Frame the county again (after the panel was hidden). */
  frame(): void;
  remove(): void;
}

const valueText = (measure: MapMeasure, v: number) => (measure === "overdue_share" ? percent(v) : v.toFixed(2));
const boundText = (measure: MapMeasure, v: number) => (measure === "overdue_share" ? `${Math.round(v * 100)}%` : String(Number(v.toFixed(2))));

/** The smallest of 1, 2, 2.5, 5 × 10ⁿ at least x: a step the legend reads easily. */
function niceStep(x: number): number {
  const power = 10 ** Math.floor(Math.log10(x));
  return ([1, 2, 2.5, 5, 10].find((m) => m * power >= x - 1e-12) ?? 10) * power;
}

/** Five equal classes from 0: by 20 points of overdue share, or by a round step up to the
 * largest township's events per 10,000 (so a lone township is not "darkest" by default). */
export function classes(measure: MapMeasure, values: number[]): { bounds: [number, number][]; of: (v: number) => number } {
  const largest = Math.max(0, ...values);
  const step = measure === "overdue_share" ? 0.2 : niceStep(largest > 0 ? largest / 5 : 0.2);
  const bounds = Array.from({ length: 5 }, (_, i): [number, number] => [step * i, step * (i + 1)]);
  return { bounds, of: (v) => Math.max(0, Math.min(4, Math.floor(v / step + 1e-9))) };
}

/** The map of townships and its legend, shaded by `show`. */
export function shadedMap(): ShadedMap {
  const mapEl = h("div", { class: "map map-assessment", testid: "assessment-map", "data-ready": "0" });
  const legend = h("div", { class: "map-legend small", testid: "assessment-map-legend" });
  const el = h("div", null, mapEl, legend);
  const map = createMap(mapEl);
  const areas = new Map<string, { layer: L.Path; name: string; tip: HTMLElement }>();
  let group: L.GeoJSON | null = null;
  let last: [MapMeasure, Map<string, TownshipValue>] | null = null;

  loadLevel("township").then((fc) => {
    group = L.geoJSON(fc, {
      style: () => outlineStyle,
      onEachFeature: (f, layer) => {
        const tip = h("div");
        layer.bindTooltip(tip, { sticky: true });
        areas.set(f.properties.code, { layer: layer as L.Path, name: f.properties.name, tip });
      },
    }).addTo(map);
    frame();
    if (last) show(...last);
  }).catch(() => undefined);

  function frame() {
    if (group && mapEl.clientWidth > 0) {
      map.invalidateSize();
      map.fitBounds(group.getBounds(), { padding: [8, 8] });
    }
  }

  function show(measure: MapMeasure, values: Map<string, TownshipValue>) {
    last = [measure, values];
    const known = [...values.values()].map((t) => t.value).filter((v): v is number => v !== null);
    const { bounds, of } = classes(measure, known);
    const shades = SHADES[measure];
    fill(legend, h("b", null, `${MAP_LABEL[measure]}：`),
      bounds.map(([from, to], i) => {
        const swatch = h("i", { class: "legend-swatch" });
        swatch.style.background = shades[i]; // CSSOM, which the page's CSP allows
        return h("span", { class: "legend-item", testid: "map-class", "data-class": i },
          swatch, `${boundText(measure, from)}–${boundText(measure, to)}`);
      }),
      (() => {
        const swatch = h("i", { class: "legend-swatch" });
        swatch.style.background = NO_DATA;
        return h("span", { class: "legend-item", "data-class": "none" }, swatch, "无数据");
      })());
    for (const [code, { layer, name, tip }] of areas) {
      const t = values.get(code);
      const value = t?.value ?? null;
      const cls = value === null ? null : of(value);
      layer.setStyle({ fillColor: cls === null ? NO_DATA : shades[cls], fillOpacity: 0.85, color: "#4b5563", weight: 1 });
      fill(tip, h("b", null, name), h("div", null, `${MAP_LABEL[measure]} ${value === null ? "无数据" : valueText(measure, value)}`));
      const path = (layer as unknown as { getElement?: () => Element | undefined }).getElement?.();
      path?.setAttribute("data-testid", "map-township");
      path?.setAttribute("data-township-code", code);
      path?.setAttribute("data-class", cls === null ? "none" : String(cls));
    }
    mapEl.dataset.ready = areas.size ? "1" : "0";
    mapEl.dataset.measure = measure;
  }

  return { el, show, frame, remove: () => disposeMap(map) };
}
