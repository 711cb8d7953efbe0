// 县级规则 on #/admin/reference: the county's own settings for the loop's side paths — the
// automatic supervision rules (督办), the extension limit (延期) and the escalation response time
// (乡呼县应) — and the assessment's weights (the 红黑榜's composite score, each matter's
// workload weight), read from and saved to /api/county-rules.

import { api, errorText } from "../api";
import type { components } from "../api-types";
import { h } from "../dom";
import { MEASURE } from "../labels";
import { note, section } from "../ui";

type Rules = components["schemas"]["CountyRulesPublic"];
type Rule = components["schemas"]["SupervisionRuleBody"];

const DEADLINES: [Rule["deadline"], string][] = [["sign", "签收"], ["handle", "办结"]];
const LEVELS: [Rule["level"], string][] = [["normal", "普通督办"], ["yellow", "黄牌督办"], ["red", "红牌督办"]];

const select = <T extends string>(options: [T, string][], value: T, testid: string) =>
  h("select", { testid }, options.map(([v, text]) => h("option", { value: v, selected: v === value }, text))) as HTMLSelectElement;

const numberInput = (value: number, testid: string, attrs: Record<string, string>) =>
  h("input", { type: "number", value: String(value), testid, ...attrs }) as HTMLInputElement;

/** The county settings section: a form that saves the whole set at once. */
export function countyRulesSection(): HTMLElement {
  const msg = note("county-rules-note");
  const body = h("div", { testid: "county-rules", "data-loaded": "0" }, h("p", { class: "muted" }, "正在加载…"));
  const el = section("县级规则（督办、延期、乡呼县应）", "ref-county-rules", msg.el, body);
  const load = () => api<Rules>("/api/county-rules").then((r) => render(r)).catch((err) => msg.show(errorText(err), "error"));

  function render(r: Rules): void {
    const limit = numberInput(r.extension_limit_days, "rules-extension-limit", { min: "0", max: "366", step: "1" });
    const hours = numberInput(r.escalation_sign_hours, "rules-escalation-hours", { min: "0.5", max: "720", step: "0.5" });
    const rows = h("tbody");
    const addRow = (rule: Rule) => {
      const row = h("tr", { testid: "rules-row" },
        h("td", null, select(DEADLINES, rule.deadline, "rules-deadline")),
        h("td", null, numberInput(rule.overdue_working_days, "rules-days", { min: "0", max: "60", step: "1" })),
        h("td", null, select(LEVELS, rule.level, "rules-level")),
        h("td", null, h("button", { type: "button", class: "btn btn-small", testid: "rules-remove", onclick: () => row.remove() }, "删除")));
      rows.append(row);
    };
    r.supervision_rules.forEach(addRow);
    const weights = Object.entries(r.ranking_weights).map(([key, w]) =>
      [key, numberInput(w, `rules-weight-${key}`, { min: "0", max: "1", step: "0.05" })] as const);
    const matterRows = h("tbody");
    const addMatter = (code: string, weight: number) => {
      const row = h("tr", { testid: "rules-matter-row" },
        h("td", null, h("input", { type: "text", value: code, maxlength: "40", testid: "rules-matter-code", "aria-label": "事项编码" })),
        h("td", null, numberInput(weight, "rules-matter-weight", { min: "0.1", max: "100", step: "0.1" })),
        h("td", null, h("button", { type: "button", class: "btn btn-small", testid: "rules-matter-remove", onclick: () => row.remove() }, "删除")));
      matterRows.append(row);
    };
    Object.entries(r.matter_weights).forEach(([code, w]) => addMatter(code, w));
    const save = h("button", { type: "submit", class: "btn btn-primary", testid: "rules-save" }, "保存");
    const form = h("form", { class: "form", testid: "county-rules-form" },
      r.is_default ? h("p", { class: "muted", testid: "rules-default" }, "该县尚未设置，以下为默认值") : null,
      h("label", null, "延期累计上限（工作日）", limit),
      h("label", null, "乡呼县应：县级部门签收时限（小时）", hours),
      h("h3", null, "自动督办规则：时限超期若干工作日后发出"),
      h("div", { class: "table-wrap" }, h("table", { class: "data" },
        h("thead", null, h("tr", null, ["时限", "超期工作日", "督办级别", ""].map((x) => h("th", null, x)))), rows)),
      h("button", { type: "button", class: "btn", testid: "rules-add", onclick: () => addRow({ deadline: "handle", overdue_working_days: 1, level: "normal" }) }, "增加规则"),
      h("h3", null, "红黑榜综合得分的权重（合计为 1）"),
      h("div", { class: "weights" }, weights.map(([key, input]) => h("label", null, MEASURE[key]?.label ?? key, input))),
      h("h3", null, "编制评估的事项权重（未列出的事项为 1）"),
      h("div", { class: "table-wrap" }, h("table", { class: "data" },
        h("thead", null, h("tr", null, ["事项编码", "权重", ""].map((x) => h("th", null, x)))), matterRows)),
      h("button", { type: "button", class: "btn", testid: "rules-matter-add", onclick: () => addMatter("", 1) }, "增加事项权重"),
      save) as HTMLFormElement;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const supervision_rules = [...rows.querySelectorAll("tr")].map((tr) => ({
        deadline: (tr.querySelector("[data-testid=rules-deadline]") as HTMLSelectElement).value,
        overdue_working_days: Number((tr.querySelector("[data-testid=rules-days]") as HTMLInputElement).value),
        level: (tr.querySelector("[data-testid=rules-level]") as HTMLSelectElement).value,
      }));
      const ranking_weights = Object.fromEntries(weights.map(([key, input]) => [key, Number(input.value)]));
      const matter_weights = Object.fromEntries([...matterRows.querySelectorAll("tr")]
        .map((tr) => [(tr.querySelector("[data-testid=rules-matter-code]") as HTMLInputElement).value.trim(),
          Number((tr.querySelector("[data-testid=rules-matter-weight]") as HTMLInputElement).value)])
        .filter(([code]) => code));
      save.setAttribute("disabled", "");
      api<Rules>("/api/county-rules", {
        method: "PUT",
        json: {
          extension_limit_days: Number(limit.value), escalation_sign_hours: Number(hours.value), supervision_rules,
          ranking_weights, matter_weights,
        },
      }).then((fresh) => {
        render(fresh);
        msg.show("已保存", "ok");
      }).catch((err) => msg.show(errorText(err), "error")).finally(() => save.removeAttribute("disabled"));
    });
    body.replaceChildren(form);
    body.dataset.loaded = "1";
  }

  load();
  return el;
}
