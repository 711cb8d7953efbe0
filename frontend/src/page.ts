import type { User } from "./types";

/** What the router gives a page: where to draw, who is signed in, the route parameter. */
export interface PageCtx {
  root: HTMLElement;
  user: User;
  param: string | null;
  /** Run fn when the user leaves the page (close sockets, remove maps, stop timers). */
  onCleanup(fn: () => void): void;
  /** False once the user has left the page: late answers must not draw. */
  alive(): boolean;
}

export type Page = (ctx: PageCtx) => void;
