// The grid worker's reports on this phone, in IndexedDB (database `sipingtai`, store `reports`):
// drafts being written, reports queued to send and reports sent, each with its photos as Blobs.
// A report keeps its client_id from its first keystroke to the server's answer, so sending it
// again (a retry, the network coming back) can never create a second event.

import { uuid4 } from "../dom";

/** 草稿 being written · 待发送 queued until the server has it and its photos · 已发送. */
export type ReportState = "draft" | "queued" | "sent";

export const STATE_LABEL: Record<ReportState, string> = { draft: "草稿", queued: "待发送", sent: "已发送" };

export interface StoredPhoto {
  id: string;
  name: string;
  type: string;
  blob: Blob | null; // null once uploaded: the server has the bytes
  uploaded: boolean;
}

export interface Draft {
  client_id: string;
  username: string;
  state: ReportState;
  updated_at: string;
  reported_at: string | null;
  lon: number | null;
  lat: number | null;
  crs: "wgs84" | "gcj02";
  description: string;
  matter_code: string | null;
  urgent: boolean;
  address: string;
  handled_on_site: boolean;
  on_site_note: string;
  photos: StoredPhoto[];
  event_id: number | null;
  error: string | null; // why the server refused it (back to 草稿), or the last network trouble
}

const DB_NAME = "sipingtai";
const STORE = "reports";
const SENT_KEPT = 20;

/** The pre-IndexedDB single draft of a user (migrated once, then removed). */
export const legacyKey = (username: string) => `sipingtai.draft.${username}`;
/** The client_id of the draft the report page has open. */
export const currentKey = (username: string) => `sipingtai.current.${username}`;

export function newDraft(username: string): Draft {
  return {
    client_id: uuid4(), username, state: "draft", updated_at: new Date().toISOString(), reported_at: null,
    lon: null, lat: null, crs: "wgs84", description: "", matter_code: null, urgent: false, address: "",
    handled_on_site: false, on_site_note: "", photos: [], event_id: null, error: null,
  };
}

let opened: Promise<IDBDatabase> | null = null;
/** Where reports live when IndexedDB is refused (some private modes): this page only. */
let memory: Map<string, Draft> | null = null;

/** Whether reports are kept in memory only (IndexedDB refused): lost when the page closes. */
export async function inMemoryOnly(): Promise<boolean> {
  if (memory) return true;
  try {
    await db();
    return false;
  } catch {
    memory = new Map();
    return true;
  }
}

function db(): Promise<IDBDatabase> {
  opened ??= new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      const store = req.result.createObjectStore(STORE, { keyPath: "client_id" });
      store.createIndex("username", "username");
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("本机存储不可用"));
  });
  opened.catch(() => (opened = null));
  return opened;
}

function run<T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return db().then((d) => new Promise<T>((resolve, reject) => {
    const tx = d.transaction(STORE, mode);
    const req = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error ?? new Error("本机存储写入失败"));
    tx.onabort = () => reject(tx.error ?? new Error("本机存储写入失败（空间不足？）"));
  }));
}

/** Tell every open page that the reports on this phone changed. */
export const CHANGED = "sipingtai:reports";
const changed = () => window.dispatchEvent(new CustomEvent(CHANGED));

/** Every report of a user on this phone, newest first. */
export async function listDrafts(username: string): Promise<Draft[]> {
  const all = (await inMemoryOnly())
    ? [...(memory as Map<string, Draft>).values()].filter((d) => d.username === username)
    : await run<Draft[]>("readonly", (s) => s.index("username").getAll(username) as IDBRequest<Draft[]>);
  return all.sort((a, b) => b.updated_at.localeCompare(a.updated_at));
}

export async function getDraft(clientId: string): Promise<Draft | undefined> {
  if (await inMemoryOnly()) {
    const found = memory?.get(clientId);
    return found ? structuredClone(found) : undefined;
  }
  return run<Draft | undefined>("readonly", (s) => s.get(clientId) as IDBRequest<Draft | undefined>);
}

/** Store a report (stamped now) and tell the pages. */
export async function putDraft(draft: Draft): Promise<void> {
  draft.updated_at = new Date().toISOString();
  if (await inMemoryOnly()) memory?.set(draft.client_id, structuredClone(draft));
  else await run("readwrite", (s) => s.put(draft));
  changed();
}

export async function deleteDraft(clientId: string): Promise<void> {
  if (await inMemoryOnly()) memory?.delete(clientId);
  else await run("readwrite", (s) => s.delete(clientId));
  changed();
}

/** Forget the oldest sent reports beyond the last SENT_KEPT (their events stay on the server). */
export async function pruneSent(username: string): Promise<void> {
  const sent = (await listDrafts(username)).filter((d) => d.state === "sent");
  for (const old of sent.slice(SENT_KEPT)) {
    if (memory) memory.delete(old.client_id);
    else await run("readwrite", (s) => s.delete(old.client_id));
  }
}

/** Move the old localStorage draft (one per user) into IndexedDB, keeping its client_id. */
export async function migrateLegacy(username: string): Promise<void> {
  const raw = localStorage.getItem(legacyKey(username));
  if (raw === null) return;
  try {
    const old = JSON.parse(raw) as Partial<Draft> | null;
    if (old && typeof old.client_id === "string" && !(await getDraft(old.client_id))) {
      const base = newDraft(username);
      const draft: Draft = {
        ...base,
        client_id: old.client_id,
        reported_at: old.reported_at ?? null,
        lon: typeof old.lon === "number" ? old.lon : null,
        lat: typeof old.lat === "number" ? old.lat : null,
        crs: old.crs === "gcj02" ? "gcj02" : "wgs84",
        description: String(old.description ?? ""),
        matter_code: old.matter_code ?? null,
        urgent: !!old.urgent,
        address: String(old.address ?? ""),
      };
      await putDraft(draft);
      localStorage.setItem(currentKey(username), draft.client_id);
    }
  } catch {
    /* a broken old draft is dropped */
  }
  localStorage.removeItem(legacyKey(username));
}

/** Whether a draft holds anything worth keeping. */
export const hasContent = (d: Draft) =>
  d.lon !== null || !!d.description.trim() || !!d.address.trim() || d.photos.length > 0 || !!d.on_site_note.trim();
