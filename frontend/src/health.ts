// The service's own health on the command centre's board: a banner 「系统降级：……」 while
// GET /api/health says degraded (no worker, routing stalled, Redis or the database away).

import { h } from "./dom";
import { HEALTH_REASON, label } from "./labels";
import type { Health } from "./types";

/** How often the board asks; a degraded state shows within this much of the server's verdict. */
export const HEALTH_POLL_MS = 5_000;

/** The reasons as the banner says them. */
export function degradedText(health: Health): string {
  const reasons = health.reasons.map((r) => label(HEALTH_REASON, r));
  return `系统降级：${reasons.length ? reasons.join("；") : "原因未知"}`;
}

/** A banner that polls health until stop(); hidden while the service is ok. */
export function healthBanner(): { el: HTMLElement; stop: () => void } {
  const el = h("div", { class: "banner banner-error", testid: "health-banner", role: "alert" });
  el.hidden = true;
  let timer: number | undefined;
  let stopped = false;
  const show = (text: string | null) => {
    el.hidden = text === null;
    el.textContent = text ?? "";
    el.dataset.state = text === null ? "ok" : "degraded";
  };
  const poll = async () => {
    try {
      // 503 is an answer here (degraded, with its reasons), not an error to throw.
      const res = await fetch("/api/health", { headers: { Accept: "application/json" } });
      const body = (await res.json()) as Health;
      show(body.status === "ok" ? null : degradedText(body));
    } catch {
      show("系统降级：无法连接服务器");
    }
    if (!stopped) timer = window.setTimeout(poll, HEALTH_POLL_MS);
  };
  void poll();
  return { el, stop: () => { stopped = true; window.clearTimeout(timer); } };
}
