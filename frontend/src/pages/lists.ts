// 责任清单: the county's responsibility list in force (older versions selectable), searchable;
// a department or township applies in writing to change a matter (申请调整).

import { api, errorText, getDepartments } from "../api";
import type { components } from "../api-types";
import { debounce, fill, h } from "../dom";
import { label } from "../labels";
import type { PageCtx } from "../page";
import { may } from "../permissions";
import { fmtShort } from "../time";
import type { Department } from "../types";
import { actionForm, note, section } from "../ui";
import vocabulary from "../vocabulary.json";

type Schemas = components["schemas"];
export type ListVersion = Schemas["MatterListPublic"];
export type ListDetail = Schemas["MatterListDetail"];
export type ListMatter = Schemas["ListMatterPublic"];
export type ListChange = Schemas["ListChangePublic"];

export const LIST_STATUS: Record<string, string> = vocabulary.list_status;
export const CHANGE_KIND: Record<string, string> = vocabulary.list_change_kind;
export const CHANGE_STATUS: Record<string, string> = vocabulary.list_change_status;
export const CHANGE_SOURCE: Record<string, string> = vocabulary.list_change_source;

export const versionName = (v: ListVersion) =>
  `第${v.version}版（${v.in_force ? "现行" : label(LIST_STATUS, v.status)}，${v.effective_from} 起）`;

const limits = (m: ListMatter) =>
  [m.sign_hours ? `签收 ${m.sign_hours} 小时` : "", m.handle_days ? `办结 ${m.handle_days} 个工作日` : ""]
    .filter(Boolean).join("，") || "—";

/** One matter as a card: lead, co, duties, legal basis, time limits. */
export function matterCard(m: ListMatter, extra: Node | null = null): HTMLElement {
  const row = (title: string, text: string | null | undefined, testid: string) =>
    h("div", { class: "matter-row", testid }, h("b", null, `${title}：`), text || "—");
  return h("article", { class: "card matter-card", testid: "list-matter", "data-code": m.code },
    h("div", { class: "card-line" }, h("b", null, `${m.row_number}. ${m.name}`), h("span", { class: "muted" }, ` ${m.code}`),
      m.platform_name ? h("span", { class: "badge" }, m.platform_name) : null),
    row("牵头部门", m.lead_name, "matter-lead"),
    row("配合部门", m.co_names.join("、"), "matter-co"),
    row("部门职责", m.department_duties, "matter-department-duties"),
    row("乡镇职责", m.township_duties_text, "matter-township-duties"),
    row("法律依据", m.legal_basis, "matter-legal-basis"),
    row("时限", limits(m), "matter-limits"),
    m.keywords.length ? row("关键词", m.keywords.join("、"), "matter-keywords") : null,
    extra);
}

function applyForm(m: ListMatter, departments: Department[], onDone: () => void): HTMLElement {
  const county = departments.filter((d) => d.kind !== "township_platform");
  const options = county.map((d) => ({ value: String(d.id), label: d.name }));
  const kind = h("select", null,
    ["move_lead", "add_co", "add_keywords"].map((k) => h("option", { value: k }, CHANGE_KIND[k] ?? k)));
  const department = h("select", null, options.map((o) => h("option", { value: o.value }, o.label)));
  const done = note(`apply-done-${m.code}`);
  const form = actionForm("申请调整", `apply-${m.code}`, {
    testid: `apply-form-${m.code}`,
    submit: "提交申请",
    fields: [
      { name: "kind", label: "调整类型", control: kind },
      { name: "department", label: "部门（牵头或配合）", control: department },
      { name: "keywords", label: "关键词（增加关键词时填写，用顿号分隔）" },
      { name: "basis", label: "申请依据（文件、条款）" },
      { name: "reasons", label: "申请理由", kind: "textarea", required: true },
    ],
    check: (v) => (v.kind === "add_keywords" && !v.keywords ? "请填写要增加的关键词" : null),
    run: async (v) => {
      const dept = Number(v.department);
      const body: Record<string, unknown> = { kind: v.kind, matter_code: m.code, reasons: v.reasons, basis: v.basis || null };
      if (v.kind === "move_lead") body.lead_department_id = dept;
      if (v.kind === "add_co") body.co_department_ids = [dept];
      if (v.kind === "add_keywords") body.keywords = v.keywords.split(/[、,，\s]+/).filter(Boolean);
      const change = await api<ListChange>("/api/list-changes", { method: "POST", json: body });
      done.show(`已提交调整申请 #${change.id}，等待县委编办审核`, "ok");
      onDone();
    },
  });
  return h("div", { class: "matter-apply" }, form, done.el);
}

export function listsPage(ctx: PageCtx): void {
  const select = h("select", { testid: "list-version" });
  const q = h("input", { type: "search", testid: "list-q", maxlength: 100, placeholder: "按编码、名称、关键词或部门搜索" });
  const head = h("p", { class: "muted", testid: "list-head" });
  const body = h("div", { class: "matter-cards", testid: "list-matters" });
  const error = note("list-error");
  const mine = h("div", { testid: "my-changes" });
  const proposer = may("propose_list_change") && ["department_staff", "township_operator"].includes(ctx.user.role);
  ctx.root.append(h("div", { class: "page page-lists" },
    h("div", { class: "page-head" }, h("h1", null, "责任清单")),
    h("section", { class: "panel" },
      h("div", { class: "filters" },
        h("label", { class: "field" }, h("span", null, "版本"), select),
        h("label", { class: "field field-wide" }, h("span", null, "搜索"), q)),
      head, error.el),
    proposer ? section("我的调整申请", "my-changes-panel", mine) : null,
    h("section", { class: "panel" }, body)));

  let versions: ListVersion[] = [];
  let departments: Department[] = [];
  let token = 0;

  const loadMine = async () => {
    if (!proposer) return;
    try {
      const changes = await api<ListChange[]>("/api/list-changes");
      if (!ctx.alive()) return;
      fill(mine, changes.length ? changes.map((c) =>
        h("div", { class: "change-line", testid: "my-change", "data-id": c.id, "data-status": c.status },
          h("b", null, `#${c.id} ${c.matter_code} ${c.matter_name ?? ""}`), ` ${c.summary} `,
          h("span", { class: "badge", testid: "my-change-status" }, label(CHANGE_STATUS, c.status)),
          h("span", { class: "muted" }, ` ${fmtShort(c.submitted_at)}`),
          c.review_note ? h("div", { class: "muted" }, `审核意见：${c.review_note}`) : null))
        : h("p", { class: "muted" }, "暂无申请"));
    } catch (err) {
      error.show(errorText(err), "error");
    }
  };

  const load = async () => {
    const mineToken = ++token;
    const id = select.value;
    if (!id) return;
    try {
      const query = q.value.trim() ? `?q=${encodeURIComponent(q.value.trim())}` : "";
      const detail = await api<ListDetail>(`/api/lists/${id}${query}`);
      if (!ctx.alive() || mineToken !== token) return;
      error.clear();
      head.textContent = `${versionName(detail)}，共 ${detail.matter_count} 项${query ? `，找到 ${detail.matters.length} 项` : ""}`;
      head.dataset.version = String(detail.version);
      head.dataset.inForce = String(detail.in_force);
      const canApply = proposer && detail.in_force;
      fill(body, detail.matters.length
        ? detail.matters.map((m) => matterCard(m, canApply ? applyForm(m, departments, loadMine) : null))
        : h("p", { class: "muted", testid: "list-empty" }, "没有符合条件的事项"));
    } catch (err) {
      error.show(errorText(err), "error");
    }
  };

  select.addEventListener("change", load);
  q.addEventListener("input", debounce(load, 300));
  Promise.all([api<ListVersion[]>("/api/lists"), proposer ? getDepartments() : Promise.resolve([])])
    .then(([found, depts]) => {
      if (!ctx.alive()) return;
      versions = found;
      departments = depts;
      fill(select, versions.map((v) => h("option", { value: v.id, "data-status": v.status }, versionName(v))));
      const current = versions.find((v) => v.in_force) ?? versions[0];
      if (!current) {
        head.textContent = "尚未导入责任清单";
        return;
      }
      select.value = String(current.id);
      load();
      loadMine();
    })
    .catch((err) => error.show(errorText(err), "error"));
}
