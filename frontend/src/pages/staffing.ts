// 清单审核: the staffing office's (县委编办) desk — change requests with their evidence,
// accept or reject with a note, the draft's diff column by column, and publishing it.

import { api, errorText } from "../api";
import type { components } from "../api-types";
import { fill, h } from "../dom";
import { EVENT_STATUS, label } from "../labels";
import type { PageCtx } from "../page";
import { chinaDay, fmtShort } from "../time";
import { actionButton, actionForm, eventLink, note, section } from "../ui";
import vocabulary from "../vocabulary.json";
import { CHANGE_SOURCE, CHANGE_STATUS, type ListChange, type ListVersion, versionName } from "./lists";

type Schemas = components["schemas"];
type ChangeDetail = Schemas["ListChangeDetail"];
type Diff = Schemas["ListDiff"];

const MATTER_CHANGE: Record<string, string> = vocabulary.matter_change;

function changeCard(c: ChangeDetail, reload: () => void): HTMLElement {
  const pending = c.status === "pending";
  const evidence = [
    c.dispute
      ? h("div", { testid: "change-dispute" }, `来源争议 #${c.dispute.id}（${c.dispute.status === "ruled" ? "已裁定" : "待裁定"}）`,
        c.dispute.minutes_ref ? `，会议纪要 ${c.dispute.minutes_ref}` : "", " 事件 ", eventLink(c.dispute.event_id))
      : null,
    ...c.events.map((e) =>
      h("div", { class: "evidence-event", testid: "change-event" }, eventLink(e.id), ` ${label(EVENT_STATUS, e.status)} `,
        e.matter_code ? `${e.matter_code} ` : "", h("span", { class: "muted" }, e.description))),
  ].filter(Boolean) as HTMLElement[];
  const current = c.matter
    ? h("div", { class: "muted", testid: "change-current" },
      `现行：牵头 ${c.matter.lead_name ?? "—"}；配合 ${c.matter.co_names.join("、") || "—"}`)
    : null;
  return h("article", { class: "card change-card", testid: "change", "data-id": c.id, "data-status": c.status },
    h("div", { class: "card-line" }, h("b", null, `#${c.id} ${c.matter_code} ${c.matter_name ?? ""}`),
      h("span", { class: "badge", testid: "change-status" }, label(CHANGE_STATUS, c.status)),
      h("span", { class: "badge" }, label(CHANGE_SOURCE, c.source))),
    h("div", { testid: "change-summary" }, c.summary),
    current,
    h("div", null, `申请单位：${c.applicant ?? "—"}，${fmtShort(c.submitted_at)}`),
    c.basis ? h("div", null, `依据：${c.basis}`) : null,
    h("div", null, `理由：${c.reasons}`),
    evidence.length ? h("div", { class: "evidence" }, h("b", null, "证据："), ...evidence) : null,
    c.review_note ? h("div", { class: "muted" }, `审核意见：${c.review_note}`) : null,
    pending
      ? h("div", { class: "form-buttons" },
        actionForm("采纳", `accept-${c.id}`, {
          testid: `accept-form-${c.id}`, submit: "确认采纳",
          fields: [{ name: "note", label: "审核意见", kind: "textarea" }],
          run: async (v) => {
            await api(`/api/list-changes/${c.id}/accept`, { method: "POST", json: { note: v.note || null } });
            reload();
          },
        }),
        actionForm("不予采纳", `reject-${c.id}`, {
          testid: `reject-form-${c.id}`, submit: "确认不予采纳", danger: true,
          fields: [{ name: "note", label: "不予采纳的理由", kind: "textarea", required: true }],
          run: async (v) => {
            await api(`/api/list-changes/${c.id}/reject`, { method: "POST", json: { note: v.note } });
            reload();
          },
        }))
      : null);
}

function diffView(diff: Diff): HTMLElement {
  if (!diff.matters.length) return h("p", { class: "muted", testid: "diff-empty" }, "草稿与现行版本相同");
  return h("div", { testid: "diff" }, diff.matters.map((m) =>
    h("article", { class: `card diff-matter diff-${m.change}`, testid: "diff-matter", "data-code": m.code, "data-change": m.change },
      h("div", { class: "card-line" }, h("b", null, `${m.code} ${m.name}`),
        h("span", { class: "badge" }, label(MATTER_CHANGE, m.change))),
      h("table", { class: "diff-table" }, h("tbody", null, m.columns.map((col) =>
        h("tr", { testid: "diff-column", "data-column": col.column },
          h("th", null, col.label),
          h("td", null,
            col.old ? h("del", { testid: "diff-old" }, col.old) : null,
            col.old && col.new ? " → " : null,
            col.new ? h("ins", { testid: "diff-new" }, col.new) : null))))))));
}

export function staffingPage(ctx: PageCtx): void {
  const pending = h("div", { testid: "pending-changes" });
  const draftBox = h("div", { testid: "draft" });
  const recent = h("div", { testid: "reviewed-changes" });
  const error = note("staffing-error");
  const published = note("publish-done");
  ctx.root.append(h("div", { class: "page page-staffing" },
    h("div", { class: "page-head" }, h("h1", null, "责任清单调整审核")),
    error.el,
    section("待审核的调整申请", "pending-panel", pending),
    section("新版本草稿", "draft-panel", published.el, draftBox),
    section("已审核的申请", "reviewed-panel", recent)));

  const load = async () => {
    try {
      const [changes, versions] = await Promise.all([
        api<ListChange[]>("/api/list-changes"), api<ListVersion[]>("/api/lists"),
      ]);
      const waiting = changes.filter((c) => c.status === "pending");
      const details = await Promise.all(waiting.map((c) => api<ChangeDetail>(`/api/list-changes/${c.id}`)));
      if (!ctx.alive()) return;
      error.clear();
      fill(pending, details.length ? details.map((d) => changeCard(d, load)) : h("p", { class: "muted", testid: "no-pending" }, "没有待审核的申请"));
      fill(recent, changes.filter((c) => c.status !== "pending").slice(0, 30).map((c) =>
        h("div", { class: "change-line", testid: "reviewed-change", "data-id": c.id, "data-status": c.status },
          h("b", null, `#${c.id} ${c.matter_code} ${c.matter_name ?? ""}`), ` ${c.summary} `,
          h("span", { class: "badge" }, label(CHANGE_STATUS, c.status)),
          c.review_note ? h("span", { class: "muted" }, ` ${c.review_note}`) : null)));
      const inForce = versions.find((v) => v.in_force);
      const draft = versions.find((v) => v.status === "draft" && (!inForce || v.version > inForce.version));
      if (!draft) {
        fill(draftBox, h("p", { class: "muted", testid: "no-draft" }, "暂无草稿：采纳调整申请后自动形成新版本草稿"));
        return;
      }
      const diff = await api<Diff>(`/api/lists/${draft.id}/diff`);
      if (!ctx.alive()) return;
      const date = h("input", { type: "date", testid: "publish-date", value: chinaDay(), min: chinaDay() });
      fill(draftBox,
        h("p", { testid: "draft-head", "data-id": draft.id, "data-version": draft.version },
          `${versionName(draft)}，共 ${draft.matter_count} 项，并入 ${draft.change_count} 项申请；对照 ${diff.against ? versionName(diff.against) : "无"}`),
        diffView(diff),
        h("div", { class: "form-buttons" },
          h("label", { class: "field" }, h("span", null, "生效日期"), date),
          actionButton("发布新版本", "publish", async () => {
            await api(`/api/lists/${draft.id}/publish`, { method: "POST", json: { effective_from: date.value } });
            published.show(`第${draft.version}版已发布，${date.value} 起生效`, "ok");
            await load();
          }, "btn btn-primary")));
    } catch (err) {
      if (ctx.alive()) error.show(errorText(err), "error");
    }
  };
  load();
}
