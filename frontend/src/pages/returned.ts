// The county board's 退回 queue: who returned a part and why, then 改派 (to a department picked
// from the list's lead first, then by kind) or 不予退回.

import { act, api } from "../api";
import { fill, h, type Row } from "../dom";
import { fmtShort } from "../time";
import type { Assignment, Card, RedispatchOptions } from "../types";
import { actionForm, eventLink } from "../ui";

export interface Returned {
  a: Assignment;
  card: Card;
}

/** The re-dispatch picker: 清单牵头部门 first, then the departments grouped by kind. */
export function redispatchPicker(assignmentId: number): HTMLSelectElement {
  const select = h("select", null, h("option", { value: "" }, "（选择部门）"));
  api<RedispatchOptions>(`/api/assignments/${assignmentId}/redispatch-options`).then((o) => {
    const groups: HTMLOptGroupElement[] = [];
    if (o.lead) {
      groups.push(h("optgroup", { label: "清单牵头部门" },
        h("option", { value: String(o.lead.id), "data-lead": "1", "data-kind": o.lead.kind }, `${o.lead.name}（牵头）`)));
    }
    for (const g of o.groups) {
      groups.push(h("optgroup", { label: g.label },
        g.departments.map((d) => h("option", { value: String(d.id), "data-kind": d.kind }, d.name))));
    }
    const chosen = select.value;
    select.replaceChildren(h("option", { value: "" }, "（选择部门）"), ...groups);
    select.value = chosen;
    select.dataset.loaded = "1";
  }).catch(() => undefined);
  return select;
}

/** A returned assignment: who returned it and why, then 改派 or 不予退回. */
export function returnedRow(first: Returned): Row<Returned> {
  let current = first;
  const dept = redispatchPicker(first.a.id);
  const info = h("div");
  const el = h("article", { class: "item", testid: `returned-${first.a.id}`, "data-assignment-id": first.a.id }, info,
    h("div", { class: "actions" },
      actionForm("改派", "redispatch-toggle", {
        testid: "redispatch-form",
        submit: "确认改派",
        fields: [
          { name: "department_id", label: "改派给", required: true, control: dept },
          { name: "reason", label: "改派理由", kind: "textarea", required: true },
        ],
        run: (v) => act(`/api/assignments/${current.a.id}/redispatch`, { department_id: Number(v.department_id), reason: v.reason }),
      }),
      actionForm("不予退回", "refuse-toggle", {
        testid: "refuse-form",
        submit: "确认不予退回",
        danger: true,
        fields: [{ name: "reason", label: "理由", kind: "textarea", required: true, placeholder: "如：依据清单第X条属于本部门职责" }],
        run: (v) => act(`/api/assignments/${current.a.id}/refuse-return`, { reason: v.reason }),
      })));
  return {
    el,
    update(r) {
      current = r;
      const { a, card } = r;
      el.dataset.eventId = String(card.id);
      el.dataset.status = a.status;
      fill(info,
        h("div", { class: "card-line" }, eventLink(card.id), h("b", { testid: "returned-department" }, a.department_name),
          h("span", { class: "muted" }, `退回于 ${fmtShort(card.updated_at)}`)),
        h("div", { class: "card-matter" }, card.matter_name ?? "事项未定", " · ", card.township_name ?? ""),
        h("div", { class: "card-desc" }, card.description),
        h("div", { testid: "returned-reason" }, h("span", { class: "muted" }, "退回理由："), a.return_reason ?? ""),
        h("div", { testid: "returned-clause" }, h("span", { class: "muted" }, "清单依据："), a.return_clause ?? ""));
    },
  };
}
