// The last reports made on this phone, so the worker can follow them (localStorage).

import type { EventPublic } from "../types";

export const recentKey = (username: string) => `sipingtai.recent.${username}`;

export interface Recent {
  id: number;
  at: string;
  text: string;
}

export function loadRecent(username: string): Recent[] {
  try {
    const list = JSON.parse(localStorage.getItem(recentKey(username)) ?? "[]") as Recent[];
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

/** Remember a report the server now has. */
export function remember(username: string, event: EventPublic): void {
  const list = [{ id: event.id, at: event.received_at, text: event.description.slice(0, 40) },
    ...loadRecent(username).filter((r) => r.id !== event.id)].slice(0, 10);
  localStorage.setItem(recentKey(username), JSON.stringify(list));
}
