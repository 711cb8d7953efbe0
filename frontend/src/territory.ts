// The township's territory on a map: its outline and villages, and its events as dots coloured
// by status; a dot opens the event. Drawn from the township board's cards.

import { h } from "./dom";
import { EVENT_STATUS, label } from "./labels";
import { createMap, disposeMap, gridStyle, L, loadLevel, outlineStyle, type JCollection } from "./map";
import type { Card } from "./types";

/** The colour of an event's dot by status: waiting on someone, in hand, to check, done. */
export const STATUS_COLOURS: Record<string, string> = {
  reported: "#1f5fa8", needs_triage: "#e8590c", dispatched: "#1f5fa8", in_progress: "#7b4bd1",
  reopened: "#d11a2a", resolved: "#b7791f", verified: "#2f855a", closed: "#6b7280", rated: "#6b7280",
  invalid: "#9aa3ae", merged: "#9aa3ae",
};
const LEGEND = ["dispatched", "in_progress", "reopened", "resolved", "verified", "closed"];

export interface TerritoryMap {
  el: HTMLElement;
  /** Put the board's cards on the map (upsert by id; gone ones removed). */
  show(cards: Card[]): void;
  remove(): void;
}

/** A map of one township with its events; returns the element to place and the updater. */
export function territoryMap(townshipCode: string): TerritoryMap {
  const mapEl = h("div", { class: "map map-township", testid: "township-map", "data-framed": "0" });
  const legend = h("div", { class: "map-legend small", testid: "map-legend" },
    LEGEND.map((s) => {
      const dot = h("i", { class: "legend-dot" });
      dot.style.background = STATUS_COLOURS[s]; // CSSOM, which the page's CSP allows
      return h("span", { class: "legend-item", "data-status": s }, dot, label(EVENT_STATUS, s));
    }));
  const el = h("div", null, mapEl, legend);
  const map = createMap(mapEl);
  const markers = new Map<number, L.CircleMarker>();
  let latest: Card[] = [];

  Promise.all([loadLevel("township"), loadLevel("village")]).then(([towns, villages]) => {
    const mine = towns.features.filter((f) => f.properties.code === townshipCode);
    if (mine.length === 0) return;
    const inside: JCollection = { type: "FeatureCollection", features: villages.features.filter((f) => f.properties.parent_code === townshipCode) };
    const own: JCollection = { type: "FeatureCollection", features: mine };
    L.geoJSON(inside,
      { style: () => gridStyle, interactive: false }).addTo(map);
    const outline = L.geoJSON(own, { style: () => ({ ...outlineStyle, weight: 2.5 }), interactive: false }).addTo(map);
    map.fitBounds(outline.getBounds(), { padding: [8, 8] });
    mapEl.dataset.framed = "1";
    show(latest);
  }).catch(() => undefined);

  function show(cards: Card[]) {
    latest = cards;
    const seen = new Set<number>();
    for (const c of cards) {
      seen.add(c.id);
      const colour = STATUS_COLOURS[c.status] ?? "#1f5fa8";
      let dot = markers.get(c.id);
      if (!dot) {
        dot = L.circleMarker([c.lat, c.lon], { radius: 8, color: "#ffffff", weight: 2, fillOpacity: 0.95, fillColor: colour });
        const id = c.id;
        dot.on("click", () => (location.hash = `#/event/${id}`));
        dot.addTo(map);
        markers.set(c.id, dot);
      }
      dot.setLatLng([c.lat, c.lon]);
      dot.setStyle({ fillColor: colour });
      const tip = h("div", null, h("b", null, `#${c.id} ${label(EVENT_STATUS, c.status)}`), h("div", null, c.matter_name ?? "事项未定"),
        c.address ? h("div", null, c.address) : null);
      dot.unbindTooltip().bindTooltip(tip);
      const path = dot.getElement();
      path?.setAttribute("data-testid", "map-event");
      path?.setAttribute("data-event-id", String(c.id));
      path?.setAttribute("data-status", c.status);
    }
    for (const [id, dot] of markers) {
      if (!seen.has(id)) {
        dot.remove();
        markers.delete(id);
      }
    }
  }

  return { el, show, remove: () => disposeMap(map) };
}
