// 编制评估's entry: the page and ECharts load only when it is opened, so every other page (the
// grid workers' phones above all) keeps its small bundle.

import { errorText } from "../api";
import { h } from "../dom";
import type { PageCtx } from "../page";

export function workloadPage(ctx: PageCtx): void {
  const waiting = h("p", { class: "muted", testid: "workload-loading" }, "正在加载编制评估…");
  ctx.root.append(waiting);
  import("./workload")
    .then((page) => {
      if (!ctx.alive()) return;
      waiting.remove();
      page.workloadPage(ctx);
    })
    .catch((err) => {
      if (ctx.alive()) waiting.replaceWith(h("div", { class: "note note-error", role: "alert" }, errorText(err)));
    });
}
