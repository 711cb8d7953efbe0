// 考核's entry: the page and ECharts load only when it is opened, so every other page (the grid
// workers' phones above all) keeps its small bundle.

import { errorText } from "../api";
import { h } from "../dom";
import type { PageCtx } from "../page";

export function assessmentPage(ctx: PageCtx): void {
  const waiting = h("p", { class: "muted", testid: "assessment-page-loading" }, "正在加载考核…");
  ctx.root.append(waiting);
  import("./assessment")
    .then((page) => {
      if (!ctx.alive()) return;
      waiting.remove();
      page.assessmentPage(ctx);
    })
    .catch((err) => {
      if (ctx.alive()) waiting.replaceWith(h("div", { class: "note note-error", role: "alert" }, errorText(err)));
    });
}
