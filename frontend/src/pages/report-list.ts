// 本机上报: the grid worker's drafts (草稿), queued reports (待发送) and sent ones (已发送) on
// this phone, each to open, send now or delete.

import { h } from "../dom";
import { fmtShort } from "../time";
import { CHANGED, type Draft, deleteDraft, hasContent, listDrafts, STATE_LABEL } from "./drafts";
import { sendReport } from "./offline";

export interface ListCtx {
  username: string;
  currentId: () => string;
  open: (clientId: string) => void;
  onCleanup: (fn: () => void) => void;
  alive: () => boolean;
}

/** The panel of this phone's reports; it redraws whenever a report changes. */
export function reportList(ctx: ListCtx): HTMLElement {
  const list = h("ul", { class: "report-list" });
  const panel = h("section", { class: "panel", testid: "report-list" }, h("h2", null, "本机上报（草稿与待发送）"), list);
  const item = (d: Draft) => {
    const current = d.client_id === ctx.currentId();
    const title = d.description.trim().slice(0, 40) || "（未填写描述）";
    const photos = d.photos.length;
    return h("li", {
      class: `report-item report-${d.state}${current ? " report-current" : ""}`, testid: "report-item",
      "data-client-id": d.client_id, "data-state": d.state, "data-photos": photos,
      "data-event-id": d.event_id ?? "",
    },
      h("div", { class: "card-line" },
        h("span", { class: `badge report-badge-${d.state}`, testid: "report-state" }, STATE_LABEL[d.state]),
        d.handled_on_site ? h("span", { class: "badge" }, "即报即办") : null,
        h("span", { class: "muted small" }, fmtShort(d.updated_at)),
        current ? h("span", { class: "muted small" }, "（正在编辑）") : null),
      h("div", null, title, photos ? h("span", { class: "muted small" }, ` · ${photos} 张照片`) : null),
      d.error ? h("div", { class: `note ${d.state === "queued" ? "note-info" : "note-error"} small`, testid: "report-error" }, d.error) : null,
      h("div", { class: "row" },
        d.state === "draft" && !current
          ? h("button", { type: "button", class: "btn btn-small", testid: "report-open", onclick: () => ctx.open(d.client_id) }, "继续编辑")
          : null,
        d.state === "queued"
          ? h("button", { type: "button", class: "btn btn-small", testid: "report-send", onclick: () => void sendReport(d.client_id) }, "立即发送")
          : null,
        d.event_id !== null
          ? h("a", { href: `#/event/${d.event_id}`, class: "event-link", testid: "event-link", "data-event-id": d.event_id }, `查看事件 #${d.event_id}`)
          : null,
        d.state !== "queued" || d.event_id === null
          ? h("button", {
            type: "button", class: "btn btn-plain btn-small", testid: "report-delete",
            onclick: () => {
              const what = d.state === "sent" ? "从本机列表中移除该记录（事件仍在系统中）？" : `删除该${STATE_LABEL[d.state]}？`;
              if (confirm(what)) void deleteDraft(d.client_id).then(() => d.client_id === ctx.currentId() && ctx.open(""));
            },
          }, d.state === "sent" ? "移除" : "删除")
          : null));
  };
  const draw = async () => {
    const all = await listDrafts(ctx.username).catch(() => [] as Draft[]);
    if (!ctx.alive()) return;
    const shown = all.filter((d) => d.state !== "draft" || hasContent(d));
    panel.hidden = shown.length === 0;
    list.replaceChildren(...shown.map(item));
  };
  const redraw = () => void draw();
  window.addEventListener(CHANGED, redraw);
  ctx.onCleanup(() => window.removeEventListener(CHANGED, redraw));
  panel.hidden = true;
  redraw();
  return panel;
}
