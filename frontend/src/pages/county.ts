// 县指挥中心: the whole county live — townships shaded by open events and named on the map, the
// feed of changes (its recent history comes with the snapshot), counters and tallies that open
// the list of events (#/events), the 待研判 queue (route by hand, 作废) and the 退回 queue (returned.ts).

import { act, getMatters } from "../api";
import { refuseBoard, isOverdueCard, openBoard, type Board } from "../board";
import { fill, h, reconcile, type Row } from "../dom";
import { healthBanner } from "../health";
import { DELTA_TYPE, EVENT_STATUS, isOpen, label } from "../labels";
import { type ListFilters, listHref, OPEN_STATUSES } from "../listlink";
import { areaLabels, createMap, disposeMap, L, loadLevel, names, outlineStyle } from "../map";
import type { PageCtx } from "../page";
import { chinaDay, fmtClock } from "../time";
import type { Card, Delta } from "../types";
import { actionForm, cardHead, eventLink, setOptions } from "../ui";
import { counter } from "./department";
import { extensionsPanel } from "./extensions";
import { noticesPanel } from "./notices";
import { type Returned, returnedRow } from "./returned";
import { waitingEscalations } from "./escalations";
import { openDisputesPanel } from "./dispute";

export function countyPage(ctx: PageCtx): void {
  const mapEl = h("div", { class: "map map-county", testid: "county-map" });
  const counters = h("div", { class: "counters", testid: "county-counters" });
  const byStatus = h("ul", { class: "tally", testid: "count-by-status" });
  const byPlatform = h("ul", { class: "tally", testid: "count-by-platform" });
  const byTownship = h("ul", { class: "tally", testid: "count-by-township" });
  const triage = h("div", { class: "list", testid: "triage-queue" });
  const returned = h("div", { class: "list", testid: "returned-queue" });
  const feed = h("ol", { class: "feed", testid: "feed" });
  const triageEmpty = h("p", { class: "muted" }, "暂无待研判事件");
  const returnedEmpty = h("p", { class: "muted" }, "暂无退回");
  const head = h("div", { class: "page-head" }, h("h1", null, "县指挥中心"));
  const escalations = waitingEscalations(ctx.user);
  ctx.onCleanup(() => escalations.stop());
  const disputes = openDisputesPanel(ctx.alive);
  const notices = noticesPanel();
  const page = h("div", { class: "page page-county" }, head,
    h("div", { class: "board-grid" },
      h("div", { class: "board-main" },
        h("section", { class: "panel" }, mapEl, h("div", { class: "legend muted small" }, "颜色越深在办事件越多；红框表示有超期")),
        h("section", { class: "panel" }, h("h2", null, "总览"), counters,
          h("div", { class: "tallies" },
            h("div", null, h("h3", null, "在办 · 按状态"), byStatus),
            h("div", null, h("h3", null, "在办 · 按平台"), byPlatform),
            h("div", null, h("h3", null, "在办 · 按乡镇"), byTownship)))),
      h("div", { class: "board-side" },
        h("section", { class: "panel" }, h("h2", null, "待研判"), triage, triageEmpty),
        h("section", { class: "panel" }, h("h2", null, "退回待处理"), returned, returnedEmpty),
        extensionsPanel(ctx.onCleanup),
        escalations.el,
        disputes.el,
        notices.el,
        h("section", { class: "panel" }, h("h2", null, "实时动态"), feed))));
  ctx.root.append(page);
  const health = healthBanner();
  page.prepend(health.el);
  ctx.onCleanup(() => health.stop());

  // The map: one polygon per township, restyled from the cards.
  const map = createMap(mapEl);
  ctx.onCleanup(() => disposeMap(map));
  const townshipLayers = new Map<string, { layer: L.Path; name: string; tip: HTMLElement }>();
  let townshipNames = new Map<string, string>();
  loadLevel("township").then((fc) => {
    if (!ctx.alive()) return;
    const group = L.geoJSON(fc, {
      style: () => outlineStyle,
      onEachFeature: (f, layer) => {
        const tip = h("div");
        layer.bindTooltip(tip, { sticky: true });
        townshipLayers.set(f.properties.code, { layer: layer as L.Path, name: f.properties.name, tip });
        // An area opens the list of that township's open events.
        layer.on("click", () => (location.hash = listHref({ township: f.properties.code, status: OPEN_STATUSES })));
      },
    }).addTo(map);
    areaLabels(map, group);
    townshipNames = new Map(fc.features.map((f) => [f.properties.code, f.properties.name]));
    map.fitBounds(group.getBounds(), { padding: [8, 8] });
    render(board);
  }).catch(() => undefined);

  const render = (b: Board) => {
    const now = Date.now();
    const today = chinaDay();
    const cards = [...b.cards.values()];
    const open = cards.filter((c) => isOpen(c.status));
    const overdue = open.filter((c) => isOverdueCard(c, now));

    fill(counters,
      linked(counter("在办", open.length, "open"), { status: OPEN_STATUSES }),
      linked(counter("今日上报", cards.filter((c) => chinaDay(c.received_at) === today).length, "today-reported"), { since: today }),
      counter("今日办结", cards.filter((c) => c.closed_at && chinaDay(c.closed_at) === today).length, "today-closed"),
      linked(counter("超期", overdue.length, "overdue"), { overdue: "true" }),
      linked(counter("待研判", open.filter((c) => c.status === "needs_triage").length, "needs-triage"), { status: ["needs_triage"] }));
    tally(byStatus, open, (c) => [label(EVENT_STATUS, c.status), { status: [c.status] }], "status");
    tally(byPlatform, open, (c) => [c.platform_name ?? "未定平台", c.platform_code ? { platform: c.platform_code, status: OPEN_STATUSES } : null], "platform");
    tally(byTownship, open, (c) => [c.township_name ?? townshipNames.get(c.township_code ?? "") ?? "未定位",
      c.township_code ? { township: c.township_code, status: OPEN_STATUSES } : null], "township");

    // Shading: open events per township; a red outline where any is overdue.
    const perTown = new Map<string, { open: number; overdue: number }>();
    for (const c of open) {
      const t = perTown.get(c.township_code ?? "") ?? { open: 0, overdue: 0 };
      t.open++;
      if (isOverdueCard(c, now)) t.overdue++;
      perTown.set(c.township_code ?? "", t);
    }
    const most = Math.max(1, ...[...perTown.values()].map((t) => t.open));
    for (const [code, { layer, name, tip }] of townshipLayers) {
      const t = perTown.get(code) ?? { open: 0, overdue: 0 };
      layer.setStyle({
        fillColor: "#e8590c",
        fillOpacity: t.open === 0 ? 0.03 : 0.15 + 0.55 * (t.open / most),
        color: t.overdue ? "#d11a2a" : "#1f5fa8",
        weight: t.overdue ? 3 : 1.5,
      });
      if (t.overdue) layer.bringToFront();
      fill(tip, h("b", null, name), h("div", null, `在办 ${t.open}`), h("div", null, `超期 ${t.overdue}`));
      const path = (layer as unknown as { getElement?: () => Element | undefined }).getElement?.();
      path?.setAttribute("data-township-code", code);
      path?.setAttribute("data-open", String(t.open));
      path?.setAttribute("data-overdue", String(t.overdue));
    }

    const needTriage = open.filter((c) => c.status === "needs_triage").sort((x, y) => x.id - y.id);
    reconcile(triage, needTriage, (c) => String(c.id), triageRow);
    triageEmpty.hidden = needTriage.length > 0;

    const back: Returned[] = cards.flatMap((card) => card.assignments.filter((a) => a.status === "returned").map((a) => ({ a, card })));
    reconcile(returned, back, (r) => String(r.a.id), returnedRow);
    returnedEmpty.hidden = back.length > 0;

    reconcile(feed, b.feed, (d) => String(d.seq), (d) => feedRow(d, b));
    escalations.refresh();
    disputes.refresh();
    notices.refresh();
  };

  const board = openBoard("/ws/boards/county", render, () => refuseBoard(page));
  head.append(board.indicator);
  ctx.onCleanup(() => board.stop());
}

/** A counter that opens the list of the events it counts. */
const linked = (el: HTMLElement, filters: Partial<ListFilters>) =>
  h("a", { class: "counter-link", href: listHref(filters), testid: `${el.dataset.testid}-link` }, el);

/** Tally cards by label; each line links to the list filtered as given (null: no link). */
function tally(ul: HTMLElement, cards: Card[], keyOf: (c: Card) => [string, Partial<ListFilters> | null], kind: string): void {
  const counts = new Map<string, { n: number; filters: Partial<ListFilters> | null }>();
  for (const c of cards) {
    const [key, filters] = keyOf(c);
    const seen = counts.get(key);
    counts.set(key, { n: (seen?.n ?? 0) + 1, filters: seen?.filters ?? filters });
  }
  const rows = [...counts].sort((a, b) => b[1].n - a[1].n || a[0].localeCompare(b[0], "zh-CN"));
  fill(ul, rows.length ? rows.map(([k, { n, filters }]) => {
    const inner = [h("span", null, k), h("b", null, String(n))];
    return h("li", { testid: `count-${kind}`, "data-key": k, "data-count": n },
      filters ? h("a", { href: listHref(filters), testid: `count-${kind}-link` }, inner) : inner);
  }) : h("li", { class: "muted" }, "无"));
}

/** A change in the feed, named by its event's current card (a fetched card fills it in). */
function feedRow(d: Delta, board: Board): Row<Delta> {
  const township = h("span");
  const matter = h("span", { class: "muted" });
  const el = h("li", { testid: "feed-item", "data-event-id": d.id, "data-type": d.type, "data-seq": d.seq },
    h("span", { class: "muted" }, fmtClock(d.at)), " ", eventLink(d.id), " ",
    h("span", { class: `badge delta-${d.type}` }, DELTA_TYPE[d.type] ?? d.type), " ", township, " ", matter);
  return {
    el,
    update: () => {
      const c = board.cards.get(d.id);
      township.textContent = c ? c.township_name ?? "未定位" : "";
      matter.textContent = c ? c.matter_name ?? "事项未定" : "";
    },
  };
}

/** The 待研判 card: the event, then 人工分拨 (matter and/or jurisdiction) and 作废. */
function triageRow(first: Card): Row<Card> {
  let card = first;
  const matter = h("select", null, h("option", { value: "" }, "（不指定事项）"));
  getMatters().then((m) => setOptions(matter, [{ value: "", label: "（不指定事项）" },
    ...m.matters.map((x) => ({ value: x.code, label: `${x.code} ${x.name}${x.platform ? `（${x.platform}）` : ""}` }))])).catch(() => undefined);
  const [town, village, grid] = jurisdictionSelects();
  const info = h("div");
  const el = h("article", { class: "item", testid: `triage-${first.id}`, "data-event-id": first.id }, info,
    h("div", { class: "actions" },
      actionForm("人工分拨", "triage-toggle", {
        testid: "triage-form",
        submit: "分拨",
        fields: [
          { name: "matter_code", label: "事项", control: matter },
          { name: "township", label: "乡镇（街道）", control: town },
          { name: "village", label: "村（社区）", control: village },
          { name: "grid", label: "网格", control: grid },
          { name: "note", label: "研判说明", kind: "textarea" },
        ],
        check: (v) => (v.matter_code || v.township ? null : "请选择事项或辖区（至少一项）"),
        run: (v) => act(`/api/events/${card.id}/triage`, {
          matter_code: v.matter_code || null,
          jurisdiction_code: v.grid || v.village || v.township || null,
          note: v.note || null,
        }),
      }),
      actionForm("作废", "invalid-toggle", {
        testid: "invalid-form",
        submit: "确认作废",
        danger: true,
        fields: [{ name: "reason", label: "作废理由", kind: "textarea", required: true, placeholder: "如：重复上报、不属于受理范围" }],
        run: (v) => act(`/api/events/${card.id}/invalid`, { reason: v.reason }),
      })));
  return {
    el,
    update(c) {
      card = c;
      el.dataset.status = c.status;
      fill(info, cardHead(c));
    },
  };
}

/** Cascading selects: township → village → grid of the county's jurisdictions. */
function jurisdictionSelects(): [HTMLSelectElement, HTMLSelectElement, HTMLSelectElement] {
  const none = (text: string) => [{ value: "", label: text }];
  const town = h("select", null, h("option", { value: "" }, "（不改辖区）"));
  const village = h("select", { disabled: true }, h("option", { value: "" }, "（整个乡镇）"));
  const grid = h("select", { disabled: true }, h("option", { value: "" }, "（整个村社区）"));
  const children = async (level: "village" | "grid", parent: string) =>
    [...(await names(level)).values()].filter((p) => p.parent_code === parent).map((p) => ({ value: p.code, label: p.name }));
  names("township").then((m) => setOptions(town, [...none("（不改辖区）"), ...[...m.values()].map((p) => ({ value: p.code, label: p.name }))])).catch(() => undefined);
  town.addEventListener("change", async () => {
    setOptions(village, none("（整个乡镇）"));
    setOptions(grid, none("（整个村社区）"));
    grid.disabled = true;
    village.disabled = !town.value;
    if (town.value) setOptions(village, [...none("（整个乡镇）"), ...(await children("village", town.value))]);
  });
  village.addEventListener("change", async () => {
    setOptions(grid, none("（整个村社区）"));
    grid.disabled = !village.value;
    if (village.value) setOptions(grid, [...none("（整个村社区）"), ...(await children("grid", village.value))]);
  });
  return [town, village, grid];
}
