// 考核: the assessment of a period by department, unit, township, matter or platform — the
// table sortable by any measure with each rate's counts, the 红黑榜 with its weights, the
// weekly trend and a bar chart (ECharts), the county map by township, and the exports. The
// view lives in the hash (assessment-view.ts): a link reopens it. Each reader sees the rows
// the API gives them (a department its own, a township its own).

import { api, download, errorText } from "../api";
import type { components } from "../api-types";
import {
  type AssessmentView, DIMENSION_TAB, DIMENSIONS, MAP_MEASURES, MEASURE, measureLabel, parseView, percent,
  quickPeriods, RATE_PARTS, valueText, viewHref,
} from "../assessment-view";
import { chart, type ChartOption, PALETTE, TOOLTIP } from "../charts";
import { fill, h } from "../dom";
import type { PageCtx } from "../page";
import { note } from "../ui";
import { MAP_LABEL, shadedMap, type ShadedMap, type TownshipValue } from "./assessment-map";

type Assessment = components["schemas"]["AssessmentPublic"];
type AssessmentRow = components["schemas"]["AssessmentRowPublic"];
type Trend = components["schemas"]["TrendPublic"];

// The table's measures in reading order; the counts a rate divides show under it, not apart.
const COLUMNS = [
  "score", "parts", "events", "reported", "population", "events_per_10k",
  "on_time_sign_rate", "on_time_completion_rate", "completion_rate", "return_rate", "rework_rate",
  "satisfaction_rate", "mean_rating", "sign_minutes_median", "sign_minutes_p90",
  "feedback_minutes_median", "feedback_minutes_p90", "notices_normal", "notices_yellow", "notices_red",
  "extensions_asked", "extensions_granted", "escalations", "escalations_answered_on_time",
  "escalation_response_median", "disputes", "disputes_ruled_responsible", "disputes_ruled_not_responsible",
];
const RATES = Object.keys(RATE_PARTS);
const BAR_MEASURES = ["score", ...RATES, "events_per_10k", "parts"];
const BAR_MOST = 40;

export function assessmentPage(ctx: PageCtx): void {
  let view = parseView(location.hash);
  let answer: Assessment | null = null;

  // The period and the dimension.
  const from = h("input", { type: "date", testid: "period-from", value: view.from });
  const to = h("input", { type: "date", testid: "period-to", value: view.to });
  const quick = h("div", { class: "chips", testid: "period-quick" },
    quickPeriods().map((q) => h("button", { type: "button", class: "chip", testid: `period-${q.id}`, "data-from": q.from, "data-to": q.to },
      q.label)));
  const tabs = h("div", { class: "chips", testid: "dimension", role: "group", "aria-label": "统计维度" },
    DIMENSIONS.map((by) => h("button", { type: "button", class: "chip", testid: `by-${by}`, "data-by": by }, DIMENSION_TAB[by])));
  const exportsMsg = note("export-note");
  const exportButton = (text: string, testid: string, path: () => string, name: () => string) => {
    const b = h("button", { type: "button", class: "btn", testid }, text);
    b.addEventListener("click", async () => {
      b.disabled = true;
      exportsMsg.clear();
      try {
        const saved = await download(path(), name());
        exportsMsg.show(`已下载 ${saved}`, "ok");
      } catch (err) {
        exportsMsg.show(errorText(err), "error");
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };
  const span = () => `from=${view.from}&to=${view.to}`;
  const exports = h("div", { class: "row", testid: "exports" },
    exportButton("导出考核工作簿", "export-workbook", () => `/api/reports/assessment.xlsx?${span()}`, () => `考核_${view.from}_${view.to}.xlsx`),
    exportButton("导出台账（逗号分隔）", "export-ledger-csv", () => `/api/exports/ledger.csv?${span()}`, () => `台账_${view.from}_${view.to}.csv`),
    exportButton("导出台账（工作簿）", "export-ledger-xlsx", () => `/api/exports/ledger.xlsx?${span()}`, () => `台账_${view.from}_${view.to}.xlsx`));

  const heading = h("p", { class: "muted", testid: "assessment-period" });
  const scoped = ctx.user.role === "department_staff" ? "只显示本部门及其派驻机构的数据。"
    : ctx.user.role === "township_operator" ? "只显示本乡镇事件的数据。" : null;
  const error = note("assessment-error");
  const loading = h("p", { class: "muted", testid: "assessment-loading" }, "正在统计…");
  const empty = h("p", { class: "note note-info", testid: "assessment-empty", hidden: true });

  // The ranking.
  const red = h("ol", { class: "ranking-list", testid: "ranking-red" });
  const black = h("ol", { class: "ranking-list", testid: "ranking-black" });
  const weights = h("p", { class: "small", testid: "ranking-weights" });
  const definitions = definitionsPanel();
  const ranking = h("section", { class: "panel", testid: "ranking" }, h("h2", null, "红黑榜"),
    h("div", { class: "ranking" },
      h("div", { class: "ranking-red" }, h("h3", null, "红榜（得分最高）"), red),
      h("div", { class: "ranking-black" }, h("h3", null, "黑榜（得分最低）"), black)),
    h("p", { class: "small", testid: "ranking-how" },
      "综合得分 = 100 × Σ（权重 × 指标）÷ Σ权重：退回率、重办率按“1 − 比率”计，无可统计数据的指标不计入、其余权重按比例放大；得分相同名次相同。",
      h("a", { href: "#assessment-definitions", testid: "definitions-link", onclick: (ev: Event) => {
        ev.preventDefault();
        definitions.open = true;
        definitions.scrollIntoView({ block: "nearest" });
      } }, "口径说明")),
    weights, definitions);

  // The table.
  const thead = h("thead");
  const tbody = h("tbody");
  const tfoot = h("tfoot");
  const table = h("table", { class: "assessment-table", testid: "assessment-table" }, thead, tbody, tfoot);
  const tablePanel = h("section", { class: "panel" }, h("h2", null, "考核明细"),
    h("p", { class: "muted small" }, "点击表头排序；比率下方括号内为分子/分母。"),
    h("div", { class: "table-box", testid: "assessment-table-box" }, table));

  // The charts.
  const trendEl = h("div", { class: "chart chart-trend", testid: "trend-chart" });
  const trendNote = h("p", { class: "muted small", testid: "trend-note" });
  const barSelect = h("select", { testid: "bar-measure" }, BAR_MEASURES.map((k) => h("option", { value: k }, measureLabel(k))));
  const barEl = h("div", { class: "chart chart-bar", testid: "bar-chart" });
  const barNote = h("p", { class: "muted small", testid: "bar-note" });
  const trendChart = chart(trendEl);
  const barChart = chart(barEl);
  ctx.onCleanup(() => {
    trendChart.dispose();
    barChart.dispose();
  });

  // The map (按乡镇).
  const mapSwitch = h("div", { class: "chips", testid: "map-measure" },
    MAP_MEASURES.map((m) => h("button", { type: "button", class: "chip", testid: `map-${m}`, "data-measure": m }, MAP_LABEL[m])));
  const mapPanel = h("section", { class: "panel", testid: "map-panel", hidden: true }, h("h2", null, "乡镇分布"), mapSwitch);
  let map: ShadedMap | null = null;
  ctx.onCleanup(() => map?.remove());

  const content = h("div", { class: "assessment-content", testid: "assessment-content", hidden: true },
    ranking, tablePanel,
    h("div", { class: "chart-grid" },
      h("section", { class: "panel" }, h("h2", null, "按周趋势"), trendEl, trendNote),
      h("section", { class: "panel" }, h("h2", null, "对比"), h("label", { class: "field" }, h("span", null, "指标"), barSelect), barEl, barNote)),
    mapPanel);
  ctx.root.append(h("div", { class: "page page-assessment" },
    h("div", { class: "page-head" }, h("h1", null, "考核"), heading),
    h("section", { class: "panel assessment-filters", testid: "assessment-filters" },
      h("div", { class: "field" }, h("span", null, "统计区间（按派单时间）"), h("div", { class: "period" }, from, h("span", null, "至"), to)),
      quick,
      h("div", { class: "field" }, h("span", null, "统计维度"), tabs),
      exports, exportsMsg.el),
    scoped ? h("p", { class: "note note-info", testid: "assessment-scope" }, scoped) : null,
    error.el, loading, empty, content));

  const markControls = () => {
    for (const b of quick.querySelectorAll<HTMLButtonElement>("button")) {
      b.classList.toggle("chip-on", b.dataset.from === view.from && b.dataset.to === view.to);
    }
    for (const b of tabs.querySelectorAll<HTMLButtonElement>("button")) {
      b.classList.toggle("chip-on", b.dataset.by === view.by);
      b.setAttribute("aria-pressed", String(b.dataset.by === view.by));
    }
    for (const b of mapSwitch.querySelectorAll<HTMLButtonElement>("button")) {
      b.classList.toggle("chip-on", b.dataset.measure === view.map);
      b.setAttribute("aria-pressed", String(b.dataset.measure === view.map));
    }
    from.value = view.from;
    to.value = view.to;
    barSelect.value = view.bar;
  };

  // ---- Drawing an answer ----------------------------------------------------------------

  const drawTable = (a: Assessment) => {
    const columns = COLUMNS.filter((k) => k in a.total.values);
    const sortButton = (key: string, text: string) => {
      const on = view.sort === key;
      return h("th", { scope: "col", "aria-sort": on ? (view.dir === "asc" ? "ascending" : "descending") : "none", "data-key": key },
        h("button", { type: "button", class: "sort", testid: `sort-${key}`, title: "点击排序" }, text, on ? (view.dir === "asc" ? " ▲" : " ▼") : ""));
    };
    fill(thead, h("tr", null, sortButton("rank", "名次"), sortButton("name", a.by_label.replace(/（.*）$/, "")),
      columns.map((k) => sortButton(k, measureLabel(k)))));
    const line = (r: AssessmentRow, total: boolean) =>
      h("tr", { testid: total ? "assessment-total" : "assessment-row", "data-key": r.key ?? "", "data-name": r.name, "data-rank": r.rank ?? "" },
        h("td", { class: "cell-rank" }, total ? "" : (r.rank ?? "—")),
        h("th", { scope: "row", class: "cell-name" }, r.name),
        columns.map((k) => cell(k, r.values)));
    fill(tbody, sortRows(a.rows, view).map((r) => line(r, false)));
    fill(tfoot, line(a.total, true));
  };

  const drawRanking = (a: Assessment) => {
    const ranked = a.rows.filter((r) => r.rank !== null && r.values.score !== null).sort((x, y) => (x.rank ?? 0) - (y.rank ?? 0));
    const top = ranked.slice(0, 3);
    const bottom = ranked.slice(Math.max(3, ranked.length - 3)).reverse();
    const item = (r: AssessmentRow) => h("li", { testid: "ranking-item", "data-key": r.key ?? "", "data-rank": r.rank ?? "" },
      h("span", null, `第${r.rank}名 ${r.name}`), h("b", { testid: "ranking-score" }, valueText("score", r.values.score)));
    fill(red, top.length ? top.map(item) : h("li", { class: "muted" }, "暂无可排名的单位"));
    fill(black, bottom.length ? bottom.map(item) : h("li", { class: "muted" }, "参与排名的不足四个，不设黑榜"));
    const used = Object.entries(a.weights).filter(([, w]) => w > 0);
    fill(weights, "权重：", used.map(([k, w], i) =>
      h("span", { testid: "ranking-weight", "data-key": k }, `${i ? "、" : ""}${measureLabel(k)} ${Math.round(w * 100)}%`)),
    "（县级规则中设置）");
  };

  const drawBar = (a: Assessment) => {
    const key = view.bar in a.total.values ? view.bar : "score";
    for (const option of barSelect.options) option.hidden = option.disabled = !(option.value in a.total.values);
    barSelect.value = key;
    const valued = a.rows.filter((r) => r.values[key] !== null && r.values[key] !== undefined);
    // The largest at the top (a category axis runs upwards); many matters: the largest 40.
    const rows = valued.sort((x, y) => Number(y.values[key]) - Number(x.values[key])).slice(0, BAR_MOST).reverse();
    barNote.textContent = valued.length > BAR_MOST ? `共 ${valued.length} 个，只显示最高的 ${BAR_MOST} 个` : "";
    const rate = MEASURE[key]?.unit === "rate";
    barEl.style.height = `${Math.max(240, rows.length * 26 + 70)}px`; // CSSOM, which the CSP allows
    barChart.show({
      color: [PALETTE[0]],
      tooltip: { ...TOOLTIP, trigger: "axis", axisPointer: { type: "shadow" },
        valueFormatter: (v: number) => valueText(key, v) },
      grid: { left: 8, right: 48, top: 16, bottom: 24, containLabel: true },
      xAxis: { type: "value", max: rate ? 1 : key === "score" ? 100 : undefined,
        axisLabel: { formatter: (v: number) => (rate ? percent(v) : String(v)) } },
      yAxis: { type: "category", data: rows.map((r) => r.name), axisLabel: { width: 120, overflow: "truncate" } },
      series: [{ type: "bar", name: measureLabel(key), barMaxWidth: 24, data: rows.map((r) => r.values[key]),
        label: { show: true, position: "right", formatter: (p: { value: number }) => valueText(key, p.value) } }],
    } satisfies ChartOption);
  };

  const drawMap = (a: Assessment) => {
    mapPanel.hidden = a.by !== "township";
    if (a.by !== "township") return;
    if (!map) {
      map = shadedMap();
      mapPanel.append(map.el);
    }
    map.frame();
    const values = new Map<string, TownshipValue>();
    for (const r of a.rows) {
      if (!r.key) continue;
      const rate = r.values.on_time_completion_rate;
      const value = view.map === "events_per_10k" ? (r.values.events_per_10k ?? null)
        : rate === null || rate === undefined ? null : Math.round((1 - rate) * 10000) / 10000;
      values.set(r.key, { name: r.name, value });
    }
    map.show(view.map, values);
  };

  const drawTrend = (t: Trend) => {
    const weeks = t.weeks;
    const label = (w: Trend["weeks"][number]) => `${w.first.slice(5).replace("-", "/")}–${w.last.slice(5).replace("-", "/")}`;
    const rates = ["on_time_completion_rate", "on_time_sign_rate"];
    trendChart.show({
      color: PALETTE,
      legend: { top: 0 },
      tooltip: { ...TOOLTIP, trigger: "axis" },
      grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: weeks.map(label) },
      yAxis: [
        { type: "value", min: 0, max: 1, axisLabel: { formatter: (v: number) => `${Math.round(v * 100)}%` } },
        { type: "value", minInterval: 1, splitLine: { show: false } },
      ],
      series: [
        ...rates.map((k) => ({ type: "line", name: measureLabel(k), connectNulls: false, data: weeks.map((w) => w.values[k] ?? null),
          tooltip: { valueFormatter: (v: number | null) => (v === null || v === undefined ? "—" : percent(v)) } })),
        { type: "line", name: measureLabel("parts"), yAxisIndex: 1, data: weeks.map((w) => w.values.parts ?? 0),
          tooltip: { valueFormatter: (v: number) => valueText("parts", v) } },
      ],
    } satisfies ChartOption);
    trendEl.dataset.weeks = String(weeks.length);
    trendNote.textContent = `共 ${weeks.length} 周（周一至周日）${t.truncated ? "；区间超过 26 周，只显示最后 26 周" : ""}`;
  };

  const draw = (a: Assessment) => {
    drawTable(a);
    drawRanking(a);
    drawBar(a);
    drawMap(a);
  };

  // ---- Loading ----------------------------------------------------------------------------

  let request = 0;
  const load = async () => {
    const mine = ++request;
    error.clear();
    markControls();
    if (view.from > view.to) {
      loading.hidden = true;
      content.hidden = true;
      empty.hidden = true;
      error.show("起始日期不能晚于截止日期", "error");
      return;
    }
    loading.hidden = false;
    const query = `from=${view.from}&to=${view.to}`;
    try {
      const [a, t] = await Promise.all([
        api<Assessment>(`/api/reports/assessment?${query}&by=${view.by}`),
        api<Trend>(`/api/reports/trend?${query}`),
      ]);
      if (mine !== request || !ctx.alive()) return;
      answer = a;
      heading.textContent = `${a.period_label} · ${DIMENSION_TAB[view.by]}`;
      const none = !a.total.values.parts;
      empty.hidden = !none;
      empty.textContent = none ? `${a.period_label} 期间没有派单，暂无考核数据。请换一个统计区间。` : "";
      content.hidden = none;
      content.dataset.by = a.by;
      if (!none) {
        draw(a);
        drawTrend(t);
      }
    } catch (err) {
      if (mine !== request) return;
      content.hidden = true; // the numbers shown were another period's
      empty.hidden = true;
      error.show(errorText(err), "error");
    } finally {
      if (mine === request) loading.hidden = true;
    }
  };

  const apply = (changes: Partial<AssessmentView>, reload = true) => {
    view = { ...view, ...changes };
    history.replaceState(null, "", viewHref(view));
    if (reload) void load();
    else if (answer) {
      markControls();
      draw(answer);
    }
  };
  from.addEventListener("change", () => from.value && apply({ from: from.value }));
  to.addEventListener("change", () => to.value && apply({ to: to.value }));
  quick.addEventListener("click", (ev) => {
    const b = (ev.target as HTMLElement).closest("button");
    if (b?.dataset.from && b.dataset.to) apply({ from: b.dataset.from, to: b.dataset.to });
  });
  tabs.addEventListener("click", (ev) => {
    const by = (ev.target as HTMLElement).closest("button")?.dataset.by as AssessmentView["by"] | undefined;
    if (by && by !== view.by) apply({ by, sort: "rank", dir: "asc" });
  });
  thead.addEventListener("click", (ev) => {
    const key = (ev.target as HTMLElement).closest("th")?.dataset.key;
    if (!key) return;
    // A measure first sorts best first (a volume largest first); the name and the rank A→Z, 1→.
    const first = key === "rank" || key === "name" ? "asc" : MEASURE[key]?.higher_is_better === false ? "asc" : "desc";
    apply({ sort: key, dir: view.sort === key ? (view.dir === "asc" ? "desc" : "asc") : first }, false);
  });
  barSelect.addEventListener("change", () => apply({ bar: barSelect.value }, false));
  mapSwitch.addEventListener("click", (ev) => {
    const m = (ev.target as HTMLElement).closest("button")?.dataset.measure as AssessmentView["map"] | undefined;
    if (m) apply({ map: m }, false);
  });
  history.replaceState(null, "", viewHref(view));
  void load();
}

/** One measure's cell: its value, and under a rate the counts it divides. */
function cell(key: string, values: Record<string, number | null>): HTMLElement {
  const value = values[key];
  const parts = RATE_PARTS[key];
  const attrs = { class: `cell-num${value === null || value === undefined ? " cell-none" : ""}`, "data-measure": key, "data-value": value ?? "" };
  if (!parts) return h("td", attrs, valueText(key, value));
  const [num, den] = parts;
  return h("td", { ...attrs, title: `${measureLabel(num)} ${values[num] ?? 0} ÷ ${measureLabel(den)} ${values[den] ?? 0}` },
    valueText(key, value), h("small", { class: "ratio", testid: "ratio" }, `（${values[num] ?? 0}/${values[den] ?? 0}）`));
}

/** The rows in the view's order: numbers numerically, names in Chinese order, nulls last. */
export function sortRows(rows: AssessmentRow[], view: Pick<AssessmentView, "sort" | "dir">): AssessmentRow[] {
  const sign = view.dir === "asc" ? 1 : -1;
  const valueOf = (r: AssessmentRow): number | string | null =>
    view.sort === "name" ? r.name : view.sort === "rank" ? r.rank : (r.values[view.sort] ?? null);
  return [...rows].sort((x, y) => {
    const a = valueOf(x);
    const b = valueOf(y);
    if (a === null || b === null) return a === b ? x.name.localeCompare(y.name, "zh-CN") : a === null ? 1 : -1;
    const order = typeof a === "string" || typeof b === "string" ? String(a).localeCompare(String(b), "zh-CN") : a - b;
    return sign * order || x.name.localeCompare(y.name, "zh-CN");
  });
}

/** 口径说明: docs/METRICS.md in short, in Chinese. */
function definitionsPanel(): HTMLDetailsElement {
  const item = (term: string, text: string) => h("li", null, h("b", null, `${term}：`), text);
  return h("details", { class: "definitions", id: "assessment-definitions", testid: "definitions" },
    h("summary", null, "口径说明"),
    h("ul", null,
      item("统计区间", "按北京时间的自然日，起止日期均含；任务按派单时间归入区间，改派产生的新任务按改派时间计。"),
      item("统计对象", "区间内派出的全部任务（部门对一件事件的一份职责：牵头、协办或属地）；合并、核查关闭等从未退回而被取消的任务不计。"),
      item("及时签收率", "首次答复（签收或退回）在签收时限内的任务数 ÷ 应签收数（已答复或签收时限已过的任务）。"),
      item("按时办结率", "在现行办结时限（含批准的延期）内最后一次反馈的任务数 ÷ 应办结数（仍由本单位办理、已反馈或时限已过的任务）。"),
      item("办结率", "状态为已反馈的任务数 ÷ 派单数；核查不通过退回重办的，再次反馈后才计入。"),
      item("退回率", "被退回过的任务数 ÷ 派单数（越低越好）。"),
      item("重办率", "核查不通过或回访不满意而重办的任务数 ÷ 曾反馈数（越低越好）。"),
      item("满意率", "评分 4–5 分的事件数 ÷ 已评价事件数，按本单位反馈过任务的事件计。"),
      item("用时", "签收用时自派单至首次答复，反馈用时自派单至最后一次反馈；列出中位数和第 90 百分位，单位为分钟。"),
      item("每万人事件数", "区间内上报的事件数（不含合并、作废）× 10000 ÷ 乡镇常住人口。"),
      item("合计", "对同一统计对象不分组直接计算，并非各行相加（一件事件涉及两个部门，事件数只计一次）。"),
      item("是否超期", "以查询时刻判断：上月派出、至今未签收的任务也算超期。"),
      item("数据范围", "县社会治理中心、县委编办、系统管理员看全县；部门工作人员只看本部门及其派驻机构；乡镇指挥室只看本乡镇。")));
}
