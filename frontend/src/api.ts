// The REST client: Bearer token from localStorage, errors as the server's Chinese `detail`.

import type { AppConfig, Department, EventDetail, MattersResponse, User } from "./types";

const TOKEN_KEY = "sipingtai.token";
const USER_KEY = "sipingtai.user";

export class ApiError extends Error {
  constructor(
    message: string, readonly status: number, readonly field: string | null = null, readonly code: string | null = null,
    readonly retryAfter: number | null = null, // seconds the server asked for (Retry-After), if it did
  ) {
    super(message);
  }
}

/** The seconds a Retry-After header asks for (seconds or an HTTP date), at least 1; null when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | null {
  const text = header?.trim();
  if (!text) return null;
  if (/^\d+$/.test(text)) return Math.max(1, Number(text));
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(1, Math.ceil((at - now) / 1000));
}

/** The request never got an answer (offline, DNS, connection reset). */
export class NetworkError extends Error {
  constructor() {
    super("网络异常，请检查网络连接");
  }
}

export function getToken(): string | null {
  return localStorage.getItem(TOKEN_KEY);
}

export function getUser(): User | null {
  try {
    return JSON.parse(localStorage.getItem(USER_KEY) ?? "null") as User | null;
  } catch {
    return null;
  }
}

export function saveSession(token: string, user: User): void {
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(USER_KEY, JSON.stringify(user));
}

export function saveUser(user: User): void {
  localStorage.setItem(USER_KEY, JSON.stringify(user));
}

export function clearSession(): void {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}

/** Forget the token and go to the login page (a 401, a 4401 close, or 退出). */
export function toLogin(): void {
  clearSession();
  if (!location.hash.startsWith("#/login")) location.hash = "#/login";
}

/** What to show for an error body: only its Chinese `message` (the `code` is for programs). */
export function detailMessage(body: unknown, fallback: string): { message: string; field: string | null; code: string | null } {
  const detail = (body as { detail?: unknown } | null)?.detail;
  const field = (body as { field?: unknown } | null)?.field;
  if (detail && typeof detail === "object" && !Array.isArray(detail)) {
    const d = detail as { message?: unknown; field?: unknown; code?: unknown };
    if (typeof d.message === "string") {
      return { message: d.message, field: typeof d.field === "string" ? d.field : null, code: typeof d.code === "string" ? d.code : null };
    }
  }
  return { message: fallback, field: typeof field === "string" ? field : null, code: null };
}

export interface RequestOptions {
  method?: string;
  json?: unknown;
  body?: FormData | URLSearchParams;
  auth?: boolean; // false: a 401 is an answer (login), not an expired session
  signal?: AbortSignal;
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  const token = getToken();
  if (token && opts.auth !== false) headers.Authorization = `Bearer ${token}`;
  let body: BodyInit | undefined = opts.body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  }
  let res: Response;
  try {
    res = await fetch(path, { method: opts.method ?? (body ? "POST" : "GET"), headers, body, signal: opts.signal });
  } catch (err) {
    if ((err as Error).name === "AbortError") throw err;
    throw new NetworkError();
  }
  if (res.status === 401 && opts.auth !== false) {
    toLogin();
    throw new ApiError("登录已失效，请重新登录", 401);
  }
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const fallback = res.status >= 500 ? `服务器错误（${res.status}），请稍后重试` : `请求失败（${res.status}）`;
    const { message, field, code } = detailMessage(data, fallback);
    throw new ApiError(message, res.status, field, code, retryAfterSeconds(res.headers.get("Retry-After")));
  }
  return data as T;
}

/** Fetch bytes with the Bearer header (photos), as an object URL the caller revokes. */
export async function blobUrl(path: string): Promise<string> {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${getToken() ?? ""}` } });
  if (res.status === 401) toLogin();
  if (!res.ok) throw new ApiError(`图片加载失败（${res.status}）`, res.status);
  return URL.createObjectURL(await res.blob());
}

/** The file name a Content-Disposition gives (its UTF-8 `filename*` first), or null. */
export function dispositionName(header: string | null): string | null {
  if (!header) return null;
  const utf8 = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (utf8) {
    try {
      return decodeURIComponent(utf8[1].trim());
    } catch {
      // fall back to the plain name
    }
  }
  return /filename="?([^";]+)"?/i.exec(header)?.[1] ?? null;
}

/** Download a file the API makes (a workbook, a ledger) with the Bearer header, under its name. */
export async function download(path: string, fallbackName: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(path, { headers: { Authorization: `Bearer ${getToken() ?? ""}` } });
  } catch {
    throw new NetworkError();
  }
  if (res.status === 401) {
    toLogin();
    throw new ApiError("登录已失效，请重新登录", 401);
  }
  if (!res.ok) {
    let body: unknown = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    const fallback = res.status === 404 ? "该导出暂不可用" : `导出失败（${res.status}）`;
    const { message, field, code } = detailMessage(body, fallback);
    throw new ApiError(message, res.status, field, code);
  }
  const name = dispositionName(res.headers.get("Content-Disposition")) ?? fallbackName;
  const url = URL.createObjectURL(await res.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError || err instanceof NetworkError) return err.message;
  console.error(err);
  return "出错了，请刷新页面后重试";
}

// Reference data, fetched once per page load.

const memo = new Map<string, Promise<unknown>>();
function once<T>(key: string, load: () => Promise<T>): Promise<T> {
  let p = memo.get(key) as Promise<T> | undefined;
  if (!p) {
    p = load();
    memo.set(key, p);
    p.catch(() => memo.delete(key)); // a failure is retried next time
  }
  return p;
}

const DEFAULT_CONFIG: AppConfig = {
  tile_url: "", tile_attribution: "", county_name: null, center: null, near_boundary_m: 50,
  demo: false,
};

export const getConfig = () =>
  once("config", () =>
    api<Partial<AppConfig>>("/api/config")
      .then((c) => ({ ...DEFAULT_CONFIG, ...c }))
      .catch((err) => {
        if (err instanceof ApiError && err.status === 404) return DEFAULT_CONFIG;
        throw err;
      }),
  );
export const getMatters = () => once("matters", () => api<MattersResponse>("/api/matters"));
export const getDepartments = () => once("departments", () => api<Department[]>("/api/departments"));
export const getEvent = (id: number) => api<EventDetail>(`/api/events/${id}`);

/** POST an action; every action answers the updated EventDetail. */
export const act = (path: string, json: unknown = {}) => api<EventDetail>(path, { method: "POST", json });

/** Upload one photo of an event (or of an assignment's feedback). */
export function uploadPhoto(eventId: number, file: File, assignmentId?: number): Promise<unknown> {
  const form = new FormData();
  form.append("file", file, file.name);
  if (assignmentId !== undefined) form.append("assignment_id", String(assignmentId));
  return api(`/api/events/${eventId}/attachments`, { method: "POST", body: form });
}
