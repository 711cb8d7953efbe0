// 事件上报: a grid worker on a phone places the point, describes what they found (or what they
// handled on the spot, 即报即办, with a photo as evidence), and sends it. Every report lives in
// IndexedDB with its photos (drafts.ts) until the server has it; with no network it waits as
// 待发送 and goes when the network returns (offline.ts), always under its own client_id.

import { errorText } from "../api";
import { debounce, h } from "../dom";
import type { PageCtx } from "../page";
import { fmtShort } from "../time";
import { note } from "../ui";
import { backoff } from "./backoff";
import { CHANGED, currentKey, type Draft, deleteDraft, getDraft, hasContent, inMemoryOnly, listDrafts, migrateLegacy, newDraft, putDraft } from "./drafts";
import { evidenceFields } from "./evidence";
import { matterPicker } from "./matter-picker";
import { sendReport } from "./offline";
import { placePicker } from "./place";
import { loadRecent } from "./recent";
import { duplicateWarning } from "./report-duplicates";
import { reportList } from "./report-list";


/** What the next drawing of the page says first (after a report was queued). */
let flash: { text: string; state: string } | null = null;

const sleep = (ms: number, cancelled: () => boolean) =>
  new Promise<void>((resolve) => {
    const started = Date.now();
    const poll = window.setInterval(() => {
      if (cancelled() || Date.now() - started >= ms) {
        window.clearInterval(poll);
        resolve();
      }
    }, 100);
  });

/** Draw the page again with another report open ("" = a new draft). */
function reopen(username: string, clientId: string): void {
  if (clientId) localStorage.setItem(currentKey(username), clientId);
  else localStorage.removeItem(currentKey(username));
  window.dispatchEvent(new HashChangeEvent("hashchange"));
}

export function reportPage(ctx: PageCtx): void {
  const username = ctx.user.username;
  const wait = h("p", { class: "muted" }, "正在读取本机草稿…");
  ctx.root.append(wait);
  void (async () => {
    let draft = newDraft(username);
    let storageError: string | null = null;
    try {
      if (await inMemoryOnly()) storageError = "本机存储不可用（可能是无痕模式）：草稿只保留到关闭页面，请尽快提交";
      await migrateLegacy(username);
      const id = localStorage.getItem(currentKey(username));
      const found = id ? await getDraft(id) : undefined;
      if (found && found.state === "draft" && found.username === username) draft = found;
    } catch (err) {
      storageError = `本机存储不可用，草稿无法保存：${errorText(err)}`;
    }
    if (!ctx.alive()) return;
    wait.remove();
    drawReport(ctx, draft, storageError);
  })();
}

function drawReport(ctx: PageCtx, draft: Draft, storageError: string | null): void {
  const { user } = ctx;
  let saving = Promise.resolve();
  const storeMsg = note("draft-storage");
  if (storageError) storeMsg.show(storageError, "error");
  /** Keep the draft on this phone (once it holds anything). */
  const store = () => {
    if (draft.state !== "draft" || !hasContent(draft)) return saving;
    localStorage.setItem(currentKey(user.username), draft.client_id);
    saving = saving.then(() => putDraft(draft)).catch((err) => storeMsg.show(`草稿保存失败：${errorText(err)}`, "error"));
    return saving;
  };
  // Typing saves 400 ms after the last key (each write copies the draft's photos too).
  const later = debounce(() => {
    pending = false;
    void store();
  }, 400);
  let pending = false;
  const save = () => {
    pending = true;
    later();
  };
  /** Write what is pending now; resolves when every write so far is done. */
  const flush = () => {
    later.cancel();
    if (pending) {
      pending = false;
      void store();
    }
    return saving;
  };
  ctx.onCleanup(() => void flush());
  window.addEventListener("pagehide", flush);
  ctx.onCleanup(() => window.removeEventListener("pagehide", flush));
  let busy = false;
  let cancelled = false;

  // The network, as the phone sees it.
  const net = h("div", { class: "note note-error", testid: "net-status", "data-state": navigator.onLine ? "online" : "offline", hidden: navigator.onLine },
    "当前无网络：草稿保存在本机，提交的上报将在联网后自动发送");
  const onNet = () => {
    net.hidden = navigator.onLine;
    net.dataset.state = navigator.onLine ? "online" : "offline";
    if (navigator.onLine) where.relocate();
    refreshSubmit();
  };
  window.addEventListener("online", onNet);
  window.addEventListener("offline", onNet);
  ctx.onCleanup(() => {
    window.removeEventListener("online", onNet);
    window.removeEventListener("offline", onNet);
  });

  const where = placePicker(ctx, draft, () => {
    save();
    refreshSubmit();
  });

  // What: the description and its matter.
  const desc = h("textarea", { testid: "description", rows: 4, maxlength: 4000, placeholder: "描述发现的问题，例如：某路口有人占道经营，堵塞人行道" });
  desc.value = draft.description;
  const picker = matterPicker(draft.matter_code, (code) => {
    draft.matter_code = code;
    save();
    refreshSubmit();
  }, { alive: ctx.alive, onCleanup: ctx.onCleanup, text: () => desc.value });
  desc.addEventListener("input", () => {
    draft.description = desc.value;
    save();
    picker.suggest(desc.value);
    refreshSubmit();
  });

  // Urgency and address.
  const normal = h("input", { type: "radio", name: "urgency", value: "normal", testid: "urgency-normal", checked: !draft.urgent });
  const urgent = h("input", { type: "radio", name: "urgency", value: "urgent", testid: "urgency-urgent", checked: draft.urgent });
  for (const r of [normal, urgent]) r.addEventListener("change", () => { draft.urgent = urgent.checked; save(); });
  const address = h("input", { type: "text", testid: "address", maxlength: 500, placeholder: "门牌号、店名、地标（选填）", value: draft.address });
  address.addEventListener("input", () => { draft.address = address.value; save(); });
  const evidence = evidenceFields(draft, () => {
    save();
    refreshSubmit();
  }, ctx.onCleanup);

  // Sending.
  const submit = h("button", { type: "button", class: "btn btn-primary btn-block", testid: "submit" }, "提交上报");
  const hint = h("div", { class: "muted small", testid: "submit-hint" });
  const cancel = h("button", { type: "button", class: "btn btn-plain btn-block", testid: "submit-cancel", hidden: true }, "取消重试");
  const status = note("submit-status");
  const setStatus = (text: string, state: string, kind: "info" | "error" | "ok" = "info") => {
    status.show(text, kind);
    status.el.dataset.state = state;
  };
  if (flash) setStatus(flash.text, flash.state, "ok");
  flash = null;
  const queuedGone = async () => {
    if (status.el.dataset.state !== "queued") return;
    const left = (await listDrafts(user.username).catch(() => [])).filter((d) => d.state === "queued");
    if (left.length === 0 && ctx.alive() && status.el.dataset.state === "queued") setStatus("待发送的上报已全部发送", "sent", "ok");
  };
  window.addEventListener(CHANGED, queuedGone);
  ctx.onCleanup(() => window.removeEventListener(CHANGED, queuedGone));
  const discard = h("button", { type: "button", class: "btn btn-plain btn-small", testid: "draft-discard" }, "清空草稿");
  const fresh = h("button", { type: "button", class: "btn btn-small", testid: "draft-new" }, "新建草稿");

  function problem(): string | null {
    const place = where.problem();
    if (place) return place;
    if (!draft.description.trim()) return "请填写事件描述";
    return evidence.problem();
  }
  const duplicates = duplicateWarning(ctx.alive);
  /** Warn of likely duplicates once the point is located and a matter chosen (online only). */
  function warnDuplicates() {
    const ready = navigator.onLine && draft.lon !== null && draft.lat !== null && !!draft.matter_code && where.problem() === null;
    duplicates.update(ready && draft.lon !== null && draft.lat !== null
      ? { lon: draft.lon, lat: draft.lat, crs: draft.crs, matter_code: draft.matter_code, reported_at: draft.reported_at }
      : null);
  }
  function refreshSubmit() {
    warnDuplicates();
    const why = problem();
    submit.disabled = busy || why !== null;
    submit.title = why ?? "";
    hint.textContent = busy ? "" : (why ?? "");
    submit.textContent = navigator.onLine ? "提交上报" : "提交（无网络，联网后自动发送）";
  }

  /** Back to 草稿 (refused or cancelled), unless the server already has the event. */
  async function backToDraft(error: string | null): Promise<boolean> {
    const stored = await getDraft(draft.client_id);
    if (stored && stored.event_id !== null) return false;
    Object.assign(draft, stored ?? {}, { state: "draft", error });
    await putDraft(draft);
    return true;
  }

  submit.addEventListener("click", async () => {
    const why = problem();
    if (why) {
      setStatus(why, "error", "error");
      return;
    }
    busy = true;
    cancelled = false;
    refreshSubmit();
    await flush();
    draft.reported_at ??= new Date().toISOString();
    draft.state = "queued";
    draft.error = null;
    try {
      await putDraft(draft);
    } catch (err) {
      draft.state = "draft";
      busy = false;
      setStatus(`无法保存到本机：${errorText(err)}`, "error", "error");
      refreshSubmit();
      return;
    }
    setStatus("正在提交…", "sending");
    for (let attempt = 0; ; attempt++) {
      const result = await sendReport(draft.client_id);
      if (!ctx.alive()) return; // a queued report goes on in the background
      if (result.kind === "sent") {
        cancel.hidden = true;
        localStorage.removeItem(currentKey(user.username));
        if (result.failed_photos.length === 0) {
          setStatus(`事件已上报（#${result.event_id}）`, "done", "ok");
          location.hash = `#/event/${result.event_id}`;
          return;
        }
        setStatus(`事件已上报（#${result.event_id}），但 ${result.failed_photos.length} 张照片上传失败：${result.failed_photos.join("、")}`, "done", "error");
        status.el.append(" ", h("a", { href: `#/event/${result.event_id}`, testid: "event-link" }, "查看事件"));
        return;
      }
      if (result.kind === "refused") {
        cancel.hidden = true;
        Object.assign(draft, (await getDraft(draft.client_id)) ?? {});
        busy = false;
        setStatus(result.message, "error", "error");
        refreshSubmit();
        return;
      }
      if (!navigator.onLine) {
        flash = { text: "当前无网络，已保存为待发送，联网后自动发送", state: "queued" };
        reopen(user.username, "");
        return;
      }
      cancel.hidden = false;
      if (result.retry_in_ms !== null) {
        // The server is busy and said for how long: the report waits as 待发送, then goes again.
        setStatus(result.message, "retrying", "info");
        await sleep(result.retry_in_ms + 100, () => cancelled || !ctx.alive());
      } else {
        setStatus(attempt === 0 ? "网络异常，正在重试…" : `网络异常，正在重试…（第 ${attempt + 1} 次）`, "retrying", "error");
        await sleep(backoff(attempt, 1_000, 30_000), () => cancelled || !ctx.alive());
      }
      if (!ctx.alive()) return;
      if (cancelled) {
        cancel.hidden = true;
        if (await backToDraft(null)) {
          busy = false;
          setStatus("已取消提交，草稿已保存，可稍后再提交", "cancelled");
          refreshSubmit();
        } else {
          flash = { text: "事件已上报，照片将在网络恢复后继续上传", state: "queued" };
          reopen(user.username, "");
        }
        return;
      }
    }
  });
  cancel.addEventListener("click", () => { cancelled = true; });
  discard.addEventListener("click", async () => {
    if (busy || !confirm("清空当前草稿？")) return;
    await flush();
    await deleteDraft(draft.client_id).catch(() => undefined);
    reopen(user.username, "");
  });
  fresh.addEventListener("click", async () => {
    if (busy) return;
    await flush();
    reopen(user.username, "");
  });

  const list = reportList({
    username: user.username, currentId: () => draft.client_id, open: (id) => reopen(user.username, id),
    onCleanup: ctx.onCleanup, alive: ctx.alive,
  });

  ctx.root.append(
    h("div", { class: "page page-report" },
      h("h1", null, "事件上报"), net, storeMsg.el,
      where.el,
      h("section", { class: "panel" },
        h("h2", null, "② 事件描述"),
        h("label", { class: "field" }, h("span", null, "描述", h("em", null, " *")), desc),
        h("div", { class: "field" }, h("span", null, "推荐事项（点选）"), picker.chips),
        h("div", { class: "field" }, h("span", null, "事项"), picker.chosen, picker.search, picker.options),
        h("div", { class: "field" }, h("span", null, "紧急程度"),
          h("div", { class: "radios" },
            h("label", { class: "radio" }, normal, " 一般"),
            h("label", { class: "radio" }, urgent, " 紧急"))),
        h("label", { class: "field" }, h("span", null, "地址（选填）"), address)),
      evidence.el,
      h("section", { class: "panel" }, duplicates.el, submit, hint, cancel, status.el,
        h("div", { class: "row row-end" }, h("span", { class: "muted small", testid: "client-id" }, `草稿编号 ${draft.client_id.slice(0, 8)}`), fresh, discard)),
      list));

  const recent = loadRecent(user.username);
  if (recent.length) {
    ctx.root.firstElementChild?.append(h("section", { class: "panel", testid: "recent-reports" },
      h("h2", null, "最近上报"),
      h("ul", { class: "event-list" }, recent.map((r) => h("li", null,
        h("a", { href: `#/event/${r.id}`, testid: "event-link", "data-event-id": r.id }, `#${r.id}`), " ",
        h("span", { class: "muted small" }, fmtShort(r.at)), " ", r.text)))));
  }

  where.relocate();
  if (draft.description) picker.suggest(draft.description);
  refreshSubmit();
}
