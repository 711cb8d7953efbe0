// 编制评估: the staffing office's evidence — each department's and unit's work against its posts
// (工作饱和度 with the numbers it is made of, and a chart against the county median), duties
// against work, the revision agenda with its events and list changes, townships, disputes;
// the workbook for the period. Every definition is the server's (docs/METRICS.md).

import * as echarts from "echarts/core";
import { BarChart } from "echarts/charts";
import { GridComponent, MarkLineComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";
import { api, ApiError, errorText, getToken, toLogin } from "../api";
import type { components } from "../api-types";
import { fill, h } from "../dom";
import { label } from "../labels";
import type { PageCtx } from "../page";
import { chinaDay } from "../time";
import { eventLink, note, section } from "../ui";
import vocabulary from "../vocabulary.json";

echarts.use([BarChart, GridComponent, MarkLineComponent, TooltipComponent, CanvasRenderer]);

type Schemas = components["schemas"];
type Report = Schemas["WorkloadReport"];
type Row = Schemas["WorkloadRow"];
type Disputes = Schemas["DisputesReport"];

const KIND: Record<string, string> = vocabulary.department_kind;
const CHANGE_STATUS: Record<string, string> = vocabulary.list_change_status;

// ---- The period: China days; quick picks for the periods people file ---------------------

interface Span { from: string; to: string }

const pad = (n: number) => String(n).padStart(2, "0");
const day = (y: number, m: number, d: number) => `${y}-${pad(m)}-${pad(d)}`;
const lastDay = (y: number, m: number) => new Date(Date.UTC(y, m, 0)).getUTCDate();

/** The quick picks, from today in China: 本月, 上月, 本季度, 本年. */
export function quickSpans(today = chinaDay()): [string, string, Span][] {
  const [y, m] = today.split("-").map(Number);
  const [py, pm] = m === 1 ? [y - 1, 12] : [y, m - 1];
  const q = Math.floor((m - 1) / 3) * 3 + 1;
  return [
    ["month", "本月", { from: day(y, m, 1), to: today }],
    ["last-month", "上月", { from: day(py, pm, 1), to: day(py, pm, lastDay(py, pm)) }],
    ["quarter", "本季度", { from: day(y, q, 1), to: today }],
    ["year", "本年", { from: day(y, 1, 1), to: today }],
  ];
}

// ---- Numbers as people read them ---------------------------------------------------------

const num = (v: number | null | undefined, digits = 1) =>
  v === null || v === undefined ? "—" : Number.isInteger(v) ? String(v) : v.toFixed(digits);
const pct = (v: number | null | undefined) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);

interface ColumnSpec {
  key: string;
  label: string;
  value: (r: Row) => number | string | null;
  show: (r: Row, report: Report) => Node | string;
  numeric?: boolean;
}

const COLUMNS: ColumnSpec[] = [
  { key: "name", label: "单位", value: (r) => r.name,
    show: (r) => h("span", null, r.name, r.parent_name ? h("span", { class: "muted small" }, ` · ${r.parent_name}`) : null) },
  { key: "kind", label: "类型", value: (r) => label(KIND, r.kind), show: (r) => label(KIND, r.kind) },
  { key: "parts", label: "派单数", value: (r) => r.parts, show: (r) => String(r.parts), numeric: true },
  { key: "held", label: "承办数", value: (r) => r.held, show: (r) => String(r.held), numeric: true },
  { key: "handled", label: "办结数", value: (r) => r.handled, numeric: true,
    show: (r) => h("span", null, String(r.handled),
      h("span", { class: "muted small" }, ` 牵头${r.handled_lead} 协办${r.handled_co} 属地${r.handled_territorial}`)) },
  { key: "weighted_work", label: "加权工作量", value: (r) => r.weighted_work, show: (r) => num(r.weighted_work), numeric: true },
  { key: "authorised_staff", label: "编制数", value: (r) => r.authorised_staff, show: (r) => num(r.authorised_staff), numeric: true },
  { key: "actual_staff", label: "实有人数", value: (r) => r.actual_staff, show: (r) => num(r.actual_staff), numeric: true },
  { key: "staff_gap", label: "空编数", value: (r) => r.staff_gap, show: (r) => num(r.staff_gap), numeric: true },
  { key: "work_per_post", label: "每编制工作量", value: (r) => r.work_per_post, show: (r) => num(r.work_per_post, 2), numeric: true },
  { key: "work_per_person", label: "人均工作量", value: (r) => r.work_per_person, show: (r) => num(r.work_per_person, 2), numeric: true },
  { key: "saturation", label: "工作饱和度", value: (r) => r.saturation, numeric: true,
    show: (r, report) => h("span", { testid: "saturation", "data-value": r.saturation ?? "" },
      h("b", null, num(r.saturation, 2)),
      r.saturation !== null && r.saturation !== undefined
        ? h("span", { class: "muted small", testid: "saturation-parts" },
          ` = ${num(r.work_per_person, 2)} ÷ ${num(report.median_work_per_person, 2)}`)
        : null) },
  { key: "handling_hours_median", label: "办理用时中位数（时）", value: (r) => r.handling_hours_median, numeric: true,
    show: (r) => h("span", null, num(r.handling_hours_median),
      r.timed ? h("span", { class: "muted small" }, ` 合计${num(r.handling_hours_total)}`) : null) },
  { key: "overdue_rate", label: "超期率", value: (r) => r.overdue_rate, numeric: true,
    show: (r) => h("span", null, pct(r.overdue_rate), r.overdue ? h("span", { class: "muted small" }, ` ${r.overdue}/${r.held}`) : null) },
];

interface Sort { key: string; desc: boolean }

function compare(a: Row, b: Row, sort: Sort): number {
  const column = COLUMNS.find((c) => c.key === sort.key) ?? COLUMNS[0];
  const x = column.value(a);
  const y = column.value(b);
  if (x === null || x === undefined) return y === null || y === undefined ? 0 : 1; // blanks last
  if (y === null || y === undefined) return -1;
  const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), "zh-CN");
  return sort.desc ? -order : order;
}

function workloadTable(report: Report, sort: Sort, onSort: (key: string) => void): HTMLElement {
  const rows = [...report.rows].sort((a, b) => compare(a, b, sort));
  return h("table", { class: "data workload-table", testid: "workload-table" },
    h("thead", null, h("tr", null, COLUMNS.map((c) => {
      const on = c.key === sort.key;
      return h("th", { "aria-sort": on ? (sort.desc ? "descending" : "ascending") : "none" },
        h("button", { type: "button", class: "sort", testid: `sort-${c.key}`, onclick: () => onSort(c.key) },
          c.label, on ? (sort.desc ? " ▼" : " ▲") : ""));
    }))),
    h("tbody", null, rows.map((r) =>
      h("tr", { testid: "workload-row", "data-id": r.department_id, "data-kind": r.kind },
        COLUMNS.map((c) => h("td", { "data-label": c.label, "data-key": c.key, class: c.numeric ? "num" : "" }, c.show(r, report)))))));
}

// ---- The chart: saturation by unit, the county median at 1 -------------------------------

function saturationChart(el: HTMLElement, report: Report): echarts.ECharts | null {
  const rows = report.rows.filter((r) => r.saturation !== null && r.saturation !== undefined && r.weighted_work > 0)
    .sort((a, b) => (a.saturation ?? 0) - (b.saturation ?? 0));
  el.dataset.bars = String(rows.length);
  if (!rows.length) {
    fill(el, h("p", { class: "muted", testid: "chart-empty" }, "本期没有可比较的单位（需有实有人数和加权工作量）"));
    return null;
  }
  el.style.height = `${Math.max(160, rows.length * 26 + 60)}px`;
  const chart = echarts.init(el, undefined, { renderer: "canvas" });
  chart.setOption({
    animation: false,
    grid: { left: 8, right: 40, top: 24, bottom: 24, containLabel: true },
    tooltip: {
      trigger: "item",
      renderMode: "richText", // drawn on the canvas: no inline HTML styles under the CSP
      formatter: (p: { dataIndex: number }) => {
        const r = rows[p.dataIndex];
        return `${r.name}\n工作饱和度 ${num(r.saturation, 2)}\n人均 ${num(r.work_per_person, 2)} ÷ 中位数 ${num(report.median_work_per_person, 2)}`;
      },
    },
    xAxis: { type: "value", name: "饱和度", nameLocation: "end", nameGap: 4 },
    yAxis: { type: "category", data: rows.map((r) => r.short_name || r.name), axisLabel: { width: 110, overflow: "truncate" } },
    series: [{
      type: "bar",
      data: rows.map((r) => ({
        value: Number((r.saturation ?? 0).toFixed(3)),
        itemStyle: { color: (r.saturation ?? 0) > 1 ? "#d11a2a" : "#1f5fa8" },
      })),
      label: { show: true, position: "right", formatter: (p: { value: number }) => p.value.toFixed(2) },
      markLine: {
        symbol: "none",
        silent: true,
        lineStyle: { color: "#b7791f", type: "dashed", width: 2 },
        label: { formatter: "全县中位数", position: "end" },
        data: [{ xAxis: 1 }],
      },
    }],
  });
  return chart;
}

// ---- Duties against work, the agenda, townships, disputes --------------------------------

const matterText = (m: { code: string; name?: string | null }) => `${m.code} ${m.name ?? ""}`.trim();
const links = (ids: number[]) => ids.length ? ids.flatMap((id, i) => (i ? [" ", eventLink(id)] : [eventLink(id)])) : ["—"];

function dutiesView(report: Report): HTMLElement {
  const byDepartment = new Map<string, string[]>();
  for (const u of report.unused_duties) {
    const list = byDepartment.get(u.department_name) ?? [];
    list.push(matterText(u.matter));
    byDepartment.set(u.department_name, list);
  }
  return h("div", { class: "duties" },
    h("h3", null, "牵头事项本期未发生"),
    byDepartment.size
      ? h("ul", { class: "plain-list", testid: "unused-duties" }, [...byDepartment].map(([name, matters]) =>
        h("li", { testid: "unused-duty" }, h("b", null, name), `（${matters.length} 项）：`, matters.join("、"))))
      : h("p", { class: "muted" }, "清单中的牵头事项本期都有发生"),
    h("h3", null, "办理了清单规定由他部门牵头的事项"),
    report.handled_elsewhere.length
      ? h("ul", { class: "plain-list", testid: "handled-elsewhere" }, report.handled_elsewhere.map((e) =>
        h("li", { testid: "handled-elsewhere-item" }, h("b", null, e.department_name),
          ` 牵头办结 ${matterText(e.matter)} ${e.parts} 件（清单牵头：${e.listed_lead_name}） 事件：`, ...links(e.event_ids))))
      : h("p", { class: "muted" }, "本期没有"));
}

function agendaView(report: Report): HTMLElement {
  if (!report.agenda.length) return h("p", { class: "muted", testid: "agenda-empty" }, "本期没有退回或争议的事项");
  return h("ol", { class: "agenda", testid: "agenda" }, report.agenda.map((a) =>
    h("li", { class: "item", testid: "agenda-item", "data-code": a.matter.code, "data-rank": a.rank },
      h("div", { class: "card-line" }, h("b", null, `${a.rank}. ${matterText(a.matter)}`),
        h("span", { class: "badge" }, `争议 ${a.disputes}`), h("span", { class: "badge" }, `退回 ${a.returns} 次`)),
      h("div", { class: "muted small" }, `现行牵头：${a.listed_lead_name ?? "—"}；被退回任务 ${a.returned_parts} 件`),
      a.pairs.length
        ? h("div", { testid: "agenda-pairs" }, "争议部门：", a.pairs.map((p) => `${p.first_name} — ${p.second_name}（${p.disputes}）`).join("；"))
        : null,
      h("div", { testid: "agenda-events" }, "事件：", ...links(a.event_ids)),
      a.changes.length
        ? h("div", { testid: "agenda-changes" }, "清单调整申请：", a.changes.flatMap((c, i) => [
          i ? "、" : "", h("a", { href: "#/lists", testid: "agenda-change", "data-id": c.id }, `#${c.id}`), `（${label(CHANGE_STATUS, c.status)}）`]))
        : h("div", { class: "muted small" }, "尚无清单调整申请"))));
}

function townshipsView(report: Report): HTMLElement {
  const heads = ["乡镇（街道）", "常住人口", "事件数", "每万人事件数", "自办率", "乡呼县应", "核查不通过"];
  return h("table", { class: "data workload-table no-sort", testid: "townships" },
    h("thead", null, h("tr", null, heads.map((t) => h("th", null, t)))),
    h("tbody", null, report.townships.map((t) => {
      const cells = [t.name, num(t.population), String(t.events), num(t.events_per_10k, 2),
        `${pct(t.self_handled_rate)}（${t.self_handled}）`, String(t.escalations), String(t.verification_failures)];
      return h("tr", { testid: "township-row", "data-code": t.township_code },
        cells.map((c, i) => h("td", { "data-label": heads[i], class: i ? "num" : "" }, c)));
    })));
}

function disputesView(d: Disputes): HTMLElement {
  return h("div", { testid: "disputes-summary" },
    h("p", null, `本期发起争议 ${d.disputes} 起，已裁定 ${d.ruled} 起，待裁定 ${d.open} 起；裁定用时中位数 ${num(d.hours_to_ruling_median)} 小时。`),
    d.by_matter.length
      ? h("ul", { class: "plain-list" }, d.by_matter.map((m) =>
        h("li", { testid: "dispute-matter", "data-code": m.matter.code }, h("b", null, matterText(m.matter)),
          `：${m.disputes} 起，裁定 ${m.ruled} 起（维持清单 ${m.kept_list}，改由他部门牵头 ${m.moved_lead}）`)))
      : null,
    d.by_ruled_lead.length
      ? h("p", { class: "muted small" }, "裁定牵头：", d.by_ruled_lead.map((r) => `${r.name} ${r.disputes} 起`).join("；"))
      : null);
}

// ---- The workbook: fetched with the token, saved from a blob -----------------------------

async function download(span: Span): Promise<void> {
  const path = `/api/reports/workload.xlsx?from=${span.from}&to=${span.to}`;
  const res = await fetch(path, { headers: { Authorization: `Bearer ${getToken() ?? ""}` } });
  if (res.status === 401) toLogin();
  if (!res.ok) {
    let message = `导出失败（${res.status}）`;
    try {
      message = (await res.json())?.detail?.message ?? message;
    } catch {
      // not JSON: keep the status
    }
    throw new ApiError(message, res.status);
  }
  const url = URL.createObjectURL(await res.blob());
  const a = h("a", { href: url, download: `编制评估-${span.from}-${span.to}.xlsx`, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- The page ----------------------------------------------------------------------------

export function workloadPage(ctx: PageCtx): void {
  const picks = quickSpans();
  const fromInput = h("input", { type: "date", testid: "period-from", value: picks[0][2].from });
  const toInput = h("input", { type: "date", testid: "period-to", value: picks[0][2].to });
  const status = note("workload-error");
  const exportNote = note("export-note");
  const summary = h("p", { class: "muted", testid: "workload-summary" });
  const tableBox = h("div", { class: "workload-box", testid: "workload-box" });
  const chartEl = h("div", { class: "chart", testid: "saturation-chart" });
  const duties = h("div", { testid: "duties" });
  const agenda = h("div", { testid: "agenda-box" });
  const townships = h("div", { class: "workload-box" });
  const disputes = h("div");
  const quick = h("div", { class: "quick-picks" }, picks.map(([key, text, span]) =>
    h("button", { type: "button", class: "btn", testid: `period-${key}`, onclick: () => {
      fromInput.value = span.from;
      toInput.value = span.to;
      load();
    } }, text)));
  const exportButton = h("button", { type: "button", class: "btn", testid: "export-workbook" }, "导出工作簿");
  exportButton.addEventListener("click", async () => {
    exportButton.disabled = true;
    exportNote.clear();
    try {
      await download({ from: fromInput.value, to: toInput.value });
      exportNote.show("工作簿已导出", "ok");
    } catch (err) {
      exportNote.show(errorText(err), "error");
    } finally {
      exportButton.disabled = false;
    }
  });
  const query = h("button", { type: "button", class: "btn btn-primary", testid: "period-apply", onclick: () => load() }, "查询");
  ctx.root.append(h("div", { class: "page page-workload" },
    h("div", { class: "page-head" }, h("h1", null, "编制评估")),
    h("section", { class: "panel period-panel", testid: "period-panel" },
      quick,
      h("div", { class: "period-fields" },
        h("label", { class: "field" }, h("span", null, "起始日期"), fromInput),
        h("label", { class: "field" }, h("span", null, "截止日期"), toInput)),
      h("div", { class: "form-buttons" }, query, exportButton),
      status.el, exportNote.el, summary),
    section("工作量与编制", "workload-panel", tableBox),
    section("工作饱和度（人均加权工作量 ÷ 全县中位数）", "chart-panel", chartEl),
    section("职责与工作", "duties-panel", duties),
    section("清单修订议程", "agenda-panel", agenda),
    section("争议与裁定", "disputes-panel", disputes),
    section("乡镇", "townships-panel", townships)));

  let chart: echarts.ECharts | null = null;
  const resize = () => chart?.resize();
  window.addEventListener("resize", resize);
  ctx.onCleanup(() => {
    window.removeEventListener("resize", resize);
    chart?.dispose();
  });
  let sort: Sort = { key: "saturation", desc: true };
  let current: Report | null = null;
  const drawTable = () => {
    if (!current) return;
    const report = current;
    fill(tableBox, workloadTable(report, sort, (key) => {
      sort = { key, desc: sort.key === key ? !sort.desc : key !== "name" && key !== "kind" };
      drawTable();
    }));
  };
  let asked = 0;
  async function load(): Promise<void> {
    const mine = ++asked;
    const span = `from=${fromInput.value}&to=${toInput.value}`;
    status.clear();
    try {
      const [report, disputesReport] = await Promise.all([
        api<Report>(`/api/reports/workload?${span}`), api<Disputes>(`/api/reports/disputes?${span}`),
      ]);
      if (!ctx.alive() || mine !== asked) return;
      current = report;
      const weights = Object.entries(report.matter_weights);
      summary.textContent = `统计区间 ${report.period.label}（任务按派单时间计入）；全县人均加权工作量中位数 ${num(report.median_work_per_person, 2)}`
        + `（${report.median_basis} 个有工作量的单位）；${weights.length ? `事项权重：${weights.map(([c, w]) => `${c}×${w}`).join("、")}，其余为 1` : "各事项权重均为 1"}。`;
      drawTable();
      chart?.dispose();
      chartEl.replaceChildren();
      chart = saturationChart(chartEl, report);
      fill(duties, dutiesView(report));
      fill(agenda, agendaView(report));
      fill(townships, townshipsView(report));
      fill(disputes, disputesView(disputesReport));
    } catch (err) {
      if (ctx.alive() && mine === asked) status.show(errorText(err), "error");
    }
  }
  load();
}
