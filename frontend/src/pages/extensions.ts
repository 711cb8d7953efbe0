// 延期: a part's holder asks for more working days before its deadline (on the inbox card),
// and the county board's panel 延期申请 where the centre approves (days, note) or refuses (note).

import { api } from "../api";
import type { components } from "../api-types";
import { fill, h, reconcile, type Row } from "../dom";
import { ASSIGNMENT_ROLE, label } from "../labels";
import { may } from "../permissions";
import { fmtShort } from "../time";
import type { Assignment } from "../types";
import { actionForm, eventLink } from "../ui";

type Extension = components["schemas"]["ExtensionPublic"];
type Extensions = components["schemas"]["ExtensionsPublic"];
type Standing = components["schemas"]["ExtensionStanding"];

const EXTENDABLE = new Set(["pending", "signed"]);
// A card's standing is read again when its deadline or status moves, else at most this often.
const RECHECK_MS = 20_000;

const days = (n: number | null | undefined) => (n === null || n === undefined ? "—" : `${n} 个工作日`);

function daysInput(testid: string): HTMLInputElement {
  return h("input", { type: "number", min: 1, max: 366, step: 1, inputmode: "numeric", testid });
}

function wholeDays(text: string, most: number): number | string {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) return "延期天数应为正整数";
  if (n > most) return `最多还可延期 ${most} 个工作日`;
  return n;
}

/** The inbox card's 申请延期 control: time left to the deadline, days still grantable, the form. */
export function extensionControl(id: () => number): { el: HTMLElement; update(a: Assignment): void } {
  let standing: Standing | null = null;
  let key = "";
  let checked = 0;
  const line = h("div", { class: "muted small", testid: "extension-standing" });
  const count = daysInput("extension-form-days");
  const form = actionForm("申请延期", "extension-toggle", {
    testid: "extension-form",
    submit: "提交延期申请",
    fields: [
      { name: "working_days", label: "延期天数（工作日）", required: true, control: count },
      { name: "reason", label: "延期理由", kind: "textarea", required: true, placeholder: "说明为何需要延长办结时限" },
    ],
    check: (v) => {
      const n = wholeDays(v.working_days, standing?.grantable_days ?? 366);
      return typeof n === "string" ? n : null;
    },
    run: async (v) => {
      await api(`/api/assignments/${id()}/extension`, { method: "POST", json: { working_days: Number(v.working_days), reason: v.reason } });
      await load(true);
    },
  });
  const el = h("div", { class: "extension", testid: "extension" }, line, form);
  el.hidden = true;

  const show = () => {
    if (!standing) return;
    const pending = standing.pending_id !== null;
    fill(line,
      pending ? h("span", { class: "badge badge-extension", testid: "extension-pending" }, "延期申请中") : null,
      standing.working_days_left !== null ? ` 距办结时限还有 ${standing.working_days_left} 个工作日` : "",
      `，还可延期 ${days(standing.grantable_days)}（上限 ${standing.limit_days} 个工作日）`);
    form.hidden = !standing.may_request;
    count.max = String(standing.grantable_days);
  };
  const load = async (force = false) => {
    if (!force && Date.now() - checked < RECHECK_MS) return;
    checked = Date.now();
    try {
      standing = await api<Standing>(`/api/assignments/${id()}/extension`);
      show();
    } catch {
      checked = 0; // try again on the next update
    }
  };
  return {
    el,
    update(a) {
      const live = EXTENDABLE.has(a.status) && !!a.handle_by && may("request_extension");
      el.hidden = !live;
      if (!live) return;
      const now = `${a.id}/${a.status}/${a.handle_by}`;
      const moved = now !== key;
      key = now;
      void load(moved);
    },
  };
}

// ---- The county board's panel -------------------------------------------------------------

function extensionRow(first: Extension, refresh: () => void): Row<Extension> {
  let x = first;
  const info = h("div", { class: "task-info" });
  const granted = daysInput("approve-form-days");
  const approve = actionForm("批准", "approve-toggle", {
    testid: "approve-form",
    submit: "确认批准",
    fields: [
      { name: "working_days", label: "批准天数（工作日，不填按申请天数）", control: granted },
      { name: "note", label: "审批意见", kind: "textarea", required: true, placeholder: "如：情况属实，同意延期" },
    ],
    check: (v) => {
      if (!v.working_days) return null;
      const n = wholeDays(v.working_days, x.working_days);
      return typeof n === "string" ? n : null;
    },
    run: async (v) => {
      const json: Record<string, unknown> = { note: v.note };
      if (v.working_days) json.working_days = Number(v.working_days);
      try {
        await api(`/api/extensions/${x.id}/approve`, { method: "POST", json });
      } finally {
        refresh();
      }
    },
  });
  const refuse = actionForm("不批准", "refuse-toggle", {
    testid: "refuse-form",
    submit: "确认不批准",
    danger: true,
    fields: [{ name: "note", label: "不予批准的理由", kind: "textarea", required: true }],
    run: async (v) => {
      try {
        await api(`/api/extensions/${x.id}/refuse`, { method: "POST", json: { note: v.note } });
      } finally {
        refresh();
      }
    },
  });
  const actions = h("div", { class: "actions" }, approve, refuse);
  const el = h("article", { class: "item", testid: `extension-${first.id}` }, info, actions);
  return {
    el,
    update(next) {
      x = next;
      granted.max = String(x.working_days);
      granted.placeholder = String(x.working_days);
      fill(info,
        h("div", { class: "card-line" }, eventLink(x.event_id),
          h("span", { class: `badge role-${x.role}` }, label(ASSIGNMENT_ROLE, x.role)),
          h("span", null, x.department_name)),
        h("div", { class: "card-desc" }, x.event_description),
        h("div", null, `申请延期 ${days(x.working_days)}：${x.reason}`),
        h("div", { class: "muted small", testid: "extension-deadline" },
          `办结时限 ${fmtShort(x.part.handle_by)}`,
          x.part.working_days_left !== null ? `，剩余 ${x.part.working_days_left} 个工作日` : "",
          `；已延期 ${days(x.part.granted_days)}，还可延期 ${days(x.part.grantable_days)}`),
        x.requested_by ? h("div", { class: "muted small" }, `申请人：${x.requested_by} · ${fmtShort(x.requested_at)}`) : null);
    },
  };
}

/** The county board's 延期申请 panel: the pending requests, each with 批准 / 不批准. */
export function extensionsPanel(onCleanup: (stop: () => void) => void): HTMLElement | null {
  if (!may("decide_extension")) return null; // only the centre decides (others see no panel)
  const list = h("div", { class: "list", testid: "extension-queue" });
  const empty = h("p", { class: "muted", testid: "extension-empty" }, "暂无延期申请");
  const problem = h("p", { class: "muted small", hidden: true });
  const refresh = () => {
    api<Extensions>("/api/extensions?status=pending").then((found) => {
      problem.hidden = true;
      reconcile(list, found.data, (x) => String(x.id), (x) => extensionRow(x, refresh));
      empty.hidden = found.data.length > 0;
    }).catch(() => {
      problem.hidden = false;
      problem.textContent = "延期申请加载失败，稍后自动重试";
    });
  };
  refresh();
  const timer = window.setInterval(refresh, 10_000);
  onCleanup(() => window.clearInterval(timer));
  return h("section", { class: "panel", testid: "extensions-panel" }, h("h2", null, "延期申请"), list, empty, problem);
}
