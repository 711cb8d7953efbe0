// 基础数据 #/admin/reference: what reference data is loaded — jurisdiction layers, departments,
// the responsibility list's versions (which is in force) and the work calendar's years, with a
// warning when next year's calendar is due and missing — and the county's own rules (county-rules.ts).

import { api, errorText } from "../api";
import type { components } from "../api-types";
import { fill, h } from "../dom";
import { label } from "../labels";
import type { PageCtx } from "../page";
import { fmtFull } from "../time";
import { note, section } from "../ui";
import { countyRulesSection } from "./county-rules";
import vocabulary from "../vocabulary.json";

type Status = components["schemas"]["ReferenceStatus"];

const LEVEL: Record<string, string> = vocabulary.jurisdiction_level;
const KIND: Record<string, string> = vocabulary.department_kind;
const LIST_STATUS: Record<string, string> = vocabulary.list_status;

const table = (testid: string, head: string[], rows: HTMLElement[]) =>
  h("div", { class: "table-wrap" }, h("table", { class: "data", testid },
    h("thead", null, h("tr", null, head.map((x) => h("th", null, x)))), h("tbody", null, rows)));

export function adminReferencePage(ctx: PageCtx): void {
  const page = h("div", { class: "page page-admin" }, h("h1", null, "基础数据"));
  ctx.root.append(page);
  if (ctx.user.role !== "admin") {
    page.append(h("div", { class: "banner banner-error", testid: "admin-forbidden" }, "仅系统管理员可以查看基础数据状态"));
    return;
  }
  const msg = note("reference-error");
  const body = h("div", { testid: "reference-status", "data-loaded": "0" }, h("p", { class: "muted" }, "正在加载…"));
  page.append(msg.el, body);

  api<Status>("/api/reference/status").then((s) => {
    if (!ctx.alive()) return;
    fill(body, calendarWarning(s), layers(s), departments(s), lists(s), calendar(s), countyRulesSection());
    body.dataset.loaded = "1";
  }).catch((err) => msg.show(errorText(err), "error"));
}

function layers(s: Status): HTMLElement {
  return section("辖区图层", "ref-layers", s.layers.length
    ? table("ref-layers-table", ["层级", "数量", "最近导入"], s.layers.map((l) =>
      h("tr", { testid: "ref-layer", "data-level": l.level, "data-count": l.count },
        h("td", null, label(LEVEL, l.level)), h("td", null, String(l.count)), h("td", null, fmtFull(l.imported_at)))))
    : h("p", { class: "note note-error" }, "尚未导入任何辖区"));
}

function departments(s: Status): HTMLElement {
  return section("部门", "ref-departments",
    h("p", { testid: "ref-departments-total", "data-count": s.departments_total }, `共 ${s.departments_total} 个（含派驻机构和乡镇平台）`),
    table("ref-departments-table", ["类型", "数量"], s.departments.map((d) =>
      h("tr", { testid: "ref-department-kind", "data-kind": d.kind, "data-count": d.count },
        h("td", null, label(KIND, d.kind)), h("td", null, String(d.count))))));
}

function lists(s: Status): HTMLElement {
  const inForce = s.lists.filter((l) => l.in_force);
  return section("责任清单版本", "ref-lists",
    inForce.length ? null : h("p", { class: "note note-error", testid: "ref-no-list" }, "当前没有生效的责任清单，事件无法自动分拨"),
    table("ref-lists-table", ["县", "版本", "生效日期", "状态", "事项数", "导入时间"], s.lists.map((l) =>
      h("tr", { testid: "ref-list", "data-version": l.version, "data-in-force": l.in_force ? "1" : "0", "data-status": l.status, "data-matters": l.matter_count },
        h("td", null, l.county_code),
        h("td", null, `第 ${l.version} 版`, l.in_force ? h("span", { class: "badge status-rated", testid: "ref-list-in-force" }, " 现行 ") : null),
        h("td", null, l.effective_from),
        h("td", null, label(LIST_STATUS, l.status)),
        h("td", null, String(l.matter_count)),
        h("td", null, fmtFull(l.imported_at))))));
}

function calendar(s: Status): HTMLElement {
  const c = s.calendar;
  return section("工作日历", "ref-calendar",
    c.years.length
      ? table("ref-calendar-table", ["年份", "节假日（天）", "调休上班（天）"], c.years.map((y) =>
        h("tr", { testid: "ref-calendar-year", "data-year": y.year },
          h("td", null, `${y.year} 年`), h("td", null, String(y.holidays)), h("td", null, String(y.makeup_workdays)))))
      : h("p", { class: "muted" }, "尚未导入任何年份的日历"));
}

function calendarWarning(s: Status): HTMLElement | null {
  const c = s.calendar;
  const missing = [c.current_year_missing ? c.current_year : null, c.next_year_missing && c.next_year_due ? c.next_year : null]
    .filter((y): y is number => y !== null);
  if (!missing.length) return null;
  const years = missing.map((y) => `${y} 年`).join("、");
  return h("div", { class: "banner banner-error", testid: "calendar-warning", "data-years": missing.join(",") },
    `尚未导入${years}的工作日历（法定节假日和调休上班日）。缺少日历时，办理时限只按周末计算，节假日也会被算作工作日。请在服务器上用 sipingtai calendar import 导入。`);
}
