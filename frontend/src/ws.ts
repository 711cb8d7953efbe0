// The one websocket client of every live page: snapshot, then deltas applied once by seq,
// reconnecting with backoff and `since=seq&epoch=epoch` so nothing is missed or applied twice.
// The token travels as a subprotocol (`bearer, <token>`), never in the URL: URLs end up in
// access logs and proxies' logs.

import { getToken, toLogin } from "./api";
import { h } from "./dom";

export type ConnState = "connecting" | "live" | "reconnecting" | "forbidden" | "notfound";

export interface ChannelHandlers<S, D> {
  snapshot(message: S): void;
  deltas(deltas: D[]): void;
  state(state: ConnState): void;
}

const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000, 30000];

export class LiveChannel<S extends { seq: number; epoch: string | number }, D extends { seq: number }> {
  private ws: WebSocket | null = null;
  private seq: number | null = null;
  private epoch: string | number | null = null;
  private attempt = 0;
  private timer = 0;
  private stopped = false;
  private readonly onOnline = () => this.reconnectNow();

  constructor(private readonly path: string, private readonly handlers: ChannelHandlers<S, D>) {
    window.addEventListener("online", this.onOnline);
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    window.removeEventListener("online", this.onOnline);
    this.ws?.close(1000);
    this.ws = null;
  }

  private url(): string {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const params = new URLSearchParams();
    if (this.seq !== null && this.epoch !== null) {
      params.set("since", String(this.seq));
      params.set("epoch", String(this.epoch));
    }
    const query = params.toString();
    return `${scheme}://${location.host}${this.path}${query ? `?${query}` : ""}`;
  }

  private connect(): void {
    if (this.stopped) return;
    this.handlers.state(this.seq === null && this.attempt === 0 ? "connecting" : "reconnecting");
    const token = getToken();
    const ws = new WebSocket(this.url(), token ? ["bearer", token] : ["bearer"]);
    this.ws = ws;
    let steady = 0;
    ws.onopen = () => {
      // A rejoin with nothing missed gets no message at all: open and still open means live.
      steady = window.setTimeout(() => {
        if (ws === this.ws) this.live();
      }, 400);
    };
    ws.onmessage = (ev) => {
      if (ws !== this.ws) return;
      let msg: any;
      try {
        msg = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      this.receive(msg);
    };
    ws.onclose = (ev) => {
      window.clearTimeout(steady);
      if (ws !== this.ws || this.stopped) return;
      this.ws = null;
      if (ev.code === 4401) {
        this.stop();
        toLogin();
      } else if (ev.code === 4403 || ev.code === 4404) {
        this.stop();
        this.handlers.state(ev.code === 4403 ? "forbidden" : "notfound");
      } else {
        this.schedule();
      }
    };
  }

  private receive(msg: any): void {
    if (msg.type === "snapshot") {
      this.seq = Number(msg.seq);
      this.epoch = msg.epoch ?? this.epoch;
      this.live();
      this.handlers.snapshot(msg as S);
    } else if (msg.type === "deltas" && Array.isArray(msg.deltas)) {
      const fresh: D[] = [];
      for (const d of msg.deltas as D[]) {
        if (this.seq === null || d.seq > this.seq) {
          fresh.push(d);
          this.seq = d.seq;
        }
      }
      if (typeof msg.seq === "number" && (this.seq === null || msg.seq > this.seq)) this.seq = msg.seq;
      if (msg.epoch !== undefined) this.epoch = msg.epoch;
      this.live();
      if (fresh.length > 0) this.handlers.deltas(fresh);
    }
  }

  private live(): void {
    this.attempt = 0; // the backoff starts again only after a connection that worked
    this.handlers.state("live");
  }

  private schedule(): void {
    this.handlers.state("reconnecting");
    const base = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt++;
    this.timer = window.setTimeout(() => this.connect(), base * (0.75 + Math.random() * 0.5));
  }

  private reconnectNow(): void {
    if (this.stopped || this.ws) return;
    window.clearTimeout(this.timer);
    this.connect();
  }
}

/** The small 实时 / 重连中… light. */
export function connIndicator(): { el: HTMLElement; set(state: ConnState): void } {
  const el = h("span", { class: "conn", testid: "conn-status", "data-state": "connecting", role: "status" }, "连接中…");
  const text: Record<ConnState, string> = {
    connecting: "连接中…", live: "实时", reconnecting: "重连中…", forbidden: "无权限",
    notfound: "不存在",
  };
  return {
    el,
    set(state) {
      el.dataset.state = state;
      el.textContent = text[state];
    },
  };
}
