// 事件列表: the command centre's searchable list of events. The filters live in the hash
// (listlink.ts), so a link opens the same list and a reload keeps it.

import { api, errorText, getDepartments, getMatters } from "../api";
import { debounce, h, fill } from "../dom";
import { EVENT_STATUS } from "../labels";
import { apiQuery, emptyFilters, listHref, parseListHash, type ListFilters } from "../listlink";
import { names } from "../map";
import type { PageCtx } from "../page";
import { fmtShort } from "../time";
import type { Department, EventPublic } from "../types";
import { eventLink, note, statusBadge, urgentBadge } from "../ui";
import vocabulary from "../vocabulary.json";
import { markEscalated } from "./escalations";

const PAGE_SIZE = 20;
const DEPARTMENT_KIND: Record<string, string> = vocabulary.department_kind;

interface EventsPage {
  data: EventPublic[];
  count: number;
  offset: number;
  limit: number;
}

export function eventsPage(ctx: PageCtx): void {
  let f = parseListHash(location.hash);
  const statusBox = h("div", { class: "checks", testid: "filter-status" },
    Object.entries(EVENT_STATUS).map(([code, text]) =>
      h("label", { class: "check" },
        h("input", { type: "checkbox", value: code, testid: `filter-status-${code}`, checked: f.status.includes(code) }), text)));
  const select = (testid: string, all: string) => h("select", { testid }, h("option", { value: "" }, all));
  const township = select("filter-township", "全部乡镇");
  const department = select("filter-department", "全部部门");
  const matter = select("filter-matter", "全部事项");
  const platform = select("filter-platform", "全部平台");
  const overdue = h("select", { testid: "filter-overdue" },
    h("option", { value: "" }, "不限"), h("option", { value: "true" }, "仅超期"), h("option", { value: "false" }, "未超期"));
  const since = h("input", { type: "date", testid: "filter-since" });
  const until = h("input", { type: "date", testid: "filter-until" });
  const q = h("input", { type: "search", testid: "filter-q", maxlength: 200, placeholder: "描述或地址中的关键词" });
  const reset = h("button", { type: "button", class: "btn btn-plain", testid: "filter-reset" }, "清空条件");
  const field = (text: string, control: HTMLElement) => h("label", { class: "field" }, h("span", null, text), control);
  const bar = h("form", { class: "filters", testid: "events-filters", novalidate: true },
    h("div", { class: "field field-wide" }, h("span", null, "状态"), statusBox),
    field("乡镇", township), field("部门", department), field("事项", matter), field("平台", platform),
    field("超期", overdue),
    h("div", { class: "field" }, h("span", null, "时间段（受理）"), h("div", { class: "period" }, since, h("span", null, "至"), until)),
    field("关键词", q), h("div", { class: "form-buttons" }, reset));
  const count = h("p", { class: "muted", testid: "events-count", "data-count": "" });
  const body = h("tbody");
  const table = h("table", { class: "events-table", testid: "events-table" },
    h("thead", null, h("tr", null, ["编号", "状态", "受理时间", "乡镇", "事项", "描述", "地址", "办结时限"].map((t) => h("th", null, t)))), body);
  const empty = h("p", { class: "muted", testid: "events-empty", hidden: true }, "没有符合条件的事件");
  const error = note("events-error");
  const prev = h("button", { type: "button", class: "btn", testid: "events-prev" }, "上一页");
  const next = h("button", { type: "button", class: "btn", testid: "events-next" }, "下一页");
  const pageNo = h("span", { testid: "events-page", "data-page": f.page });
  ctx.root.append(h("div", { class: "page page-events" },
    h("div", { class: "page-head" }, h("h1", null, "事件列表")),
    h("section", { class: "panel" }, bar),
    h("section", { class: "panel" }, count, error.el, h("div", { class: "table-wrap" }, table), empty,
      h("div", { class: "pager" }, prev, pageNo, next))));

  const townNames = new Map<string, string>();
  const matterNames = new Map<string, string>();
  const show = (control: HTMLInputElement | HTMLSelectElement, value: string) => {
    control.value = value;
  };
  const setAll = () => {
    for (const box of statusBox.querySelectorAll<HTMLInputElement>("input")) box.checked = f.status.includes(box.value);
    show(township, f.township); show(department, f.department); show(matter, f.matter); show(platform, f.platform);
    show(overdue, f.overdue); show(since, f.since); show(until, f.until); show(q, f.q);
  };
  names("township").then((m) => {
    for (const p of m.values()) {
      townNames.set(p.code, p.name);
      township.append(h("option", { value: p.code }, p.name));
    }
    township.value = f.township;
    if (ctx.alive()) load();
  }).catch(() => undefined);
  getMatters().then((m) => {
    const platforms = new Map<string, string>();
    for (const x of m.matters) {
      matterNames.set(x.code, x.name);
      matter.append(h("option", { value: x.code }, `${x.code} ${x.name}`));
      if (x.platform_code && x.platform) platforms.set(x.platform_code, x.platform);
    }
    for (const [code, name] of platforms) platform.append(h("option", { value: code }, name));
    matter.value = f.matter;
    platform.value = f.platform;
    if (ctx.alive()) load();
  }).catch(() => undefined);
  getDepartments().then((ds) => {
    department.append(...departmentGroups(ds));
    department.value = f.department;
  }).catch(() => undefined);

  let request = 0;
  const load = async () => {
    const mine = ++request;
    error.clear();
    try {
      const page = await api<EventsPage>(`/api/events?${apiQuery(f, PAGE_SIZE)}`);
      if (mine !== request || !ctx.alive()) return;
      const pages = Math.max(1, Math.ceil(page.count / PAGE_SIZE));
      count.dataset.count = String(page.count);
      count.textContent = `共 ${page.count} 件`;
      fill(body, page.data.map((e) => row(e, townNames, matterNames)));
      markEscalated(body, ctx.user);
      empty.hidden = page.data.length > 0;
      pageNo.dataset.page = String(f.page);
      pageNo.textContent = `第 ${f.page} / ${pages} 页`;
      prev.disabled = f.page <= 1;
      next.disabled = f.page >= pages;
    } catch (err) {
      if (mine === request) error.show(errorText(err), "error");
    }
  };
  // The hash follows the filters without a reload (replaceState fires no hashchange).
  const apply = (changes: Partial<ListFilters>) => {
    f = { ...f, page: 1, ...changes };
    history.replaceState(null, "", listHref(f));
    void load();
  };
  statusBox.addEventListener("change", () =>
    apply({ status: [...statusBox.querySelectorAll<HTMLInputElement>("input:checked")].map((b) => b.value) }));
  for (const [control, key] of [[township, "township"], [department, "department"], [matter, "matter"], [platform, "platform"],
    [overdue, "overdue"], [since, "since"], [until, "until"]] as const) {
    control.addEventListener("change", () => apply({ [key]: control.value }));
  }
  const typed = debounce(() => apply({ q: q.value }), 300);
  q.addEventListener("input", typed);
  ctx.onCleanup(() => typed.cancel());
  bar.addEventListener("submit", (ev) => {
    ev.preventDefault();
    typed.cancel();
    apply({ q: q.value });
  });
  reset.addEventListener("click", () => {
    f = emptyFilters();
    setAll();
    apply({});
  });
  prev.addEventListener("click", () => apply({ page: Math.max(1, f.page - 1) }));
  next.addEventListener("click", () => apply({ page: f.page + 1 }));
  setAll();
  void load();
}

function row(e: EventPublic, towns: Map<string, string>, matters: Map<string, string>): HTMLElement {
  const desc = e.description.length > 60 ? `${e.description.slice(0, 60)}…` : e.description;
  return h("tr", { testid: "events-row", "data-event-id": e.id, "data-status": e.status },
    h("td", null, eventLink(e.id)),
    h("td", null, statusBadge(e.status), urgentBadge(e.urgent)),
    h("td", null, fmtShort(e.received_at)),
    h("td", { testid: "events-row-township" }, e.township_code ? (towns.get(e.township_code) ?? "—") : "未定位"),
    h("td", null, e.matter_code ? (matters.get(e.matter_code) ?? "—") : "事项未定"),
    h("td", { class: "cell-desc" }, desc),
    h("td", null, e.address ?? ""),
    h("td", null, fmtShort(e.handle_by)));
}

/** Departments as option groups by kind, labelled in Chinese. */
export function departmentGroups(ds: Department[]): HTMLOptGroupElement[] {
  const kinds = [...new Set(ds.map((d) => d.kind))];
  return kinds.map((kind) => {
    const group = h("optgroup", { label: DEPARTMENT_KIND[kind] ?? "其他" });
    group.append(...ds.filter((d) => d.kind === kind).map((d) => h("option", { value: String(d.id), "data-kind": d.kind }, d.name)));
    return group;
  });
}
