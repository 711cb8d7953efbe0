// 事件上报: a grid worker on a phone places the point, describes what they found (or what they
// handled on the spot, 即报即办, with a photo as evidence), and sends it. Every report lives in
// IndexedDB with its photos (drafts.ts) until the server has it; with no network it waits as
// 待发送 and goes when the network returns (offline.ts), always under its own client_id.

import { api, errorText, getConfig, NetworkError } from "../api";
import { fill, h, uuid4 } from "../dom";
import { createMap, disposeMap, gridStyle, type JCollection, insideTownship, L, loadLevel, outlineStyle, pointMarker } from "../map";
import type { PageCtx } from "../page";
import type { LocateResult } from "../types";
import { fmtShort } from "../time";
import { note } from "../ui";
import { currentKey, type Draft, deleteDraft, getDraft, hasContent, migrateLegacy, newDraft, putDraft } from "./drafts";
import { matterPicker } from "./matter-picker";
import { sendReport } from "./offline";
import { browserPosition, dingTalkPosition } from "./position";
import { loadRecent } from "./recent";
import { reportList } from "./report-list";

const GRID_ZOOM = 13;
const MAX_PHOTO_BYTES = 10 * 1024 * 1024;
const PHOTO_TYPES = ["image/jpeg", "image/png", "image/webp"];
const LEVEL_NAMES: Record<string, string> = { township: "乡镇（街道）", village: "村（社区）", grid: "网格" };

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
  const save = () => {
    if (draft.state !== "draft" || !hasContent(draft)) return saving;
    localStorage.setItem(currentKey(user.username), draft.client_id);
    saving = saving.then(() => putDraft(draft)).catch((err) => storeMsg.show(`草稿保存失败：${errorText(err)}`, "error"));
    return saving;
  };
  let located: LocateResult | null = null;
  let locateOffline = false;
  let nearM = 50;
  getConfig().then((cfg) => (nearM = cfg.near_boundary_m || nearM)).catch(() => undefined);
  let locateSeq = 0;
  let busy = false;
  let cancelled = false;
  const objectUrls: string[] = [];

  // The network, as the phone sees it.
  const net = h("div", { class: "note note-error", testid: "net-status", "data-state": navigator.onLine ? "online" : "offline", hidden: navigator.onLine },
    "当前无网络：草稿保存在本机，提交的上报将在联网后自动发送");
  const onNet = () => {
    net.hidden = navigator.onLine;
    net.dataset.state = navigator.onLine ? "online" : "offline";
    if (navigator.onLine && locateOffline && draft.lon !== null && draft.lat !== null) void place(draft.lon, draft.lat, draft.crs, true);
    refreshSubmit();
  };
  window.addEventListener("online", onNet);
  window.addEventListener("offline", onNet);
  ctx.onCleanup(() => {
    window.removeEventListener("online", onNet);
    window.removeEventListener("offline", onNet);
  });

  // The map: township outlines, and the grids of the user's township when zoomed in.
  const mapEl = h("div", { class: "map map-report", testid: "report-map" });
  const map = createMap(mapEl);
  ctx.onCleanup(() => disposeMap(map));
  let marker: L.CircleMarker | null = null;
  let gridLayer: L.GeoJSON | null = null;
  loadLevel("township").then((fc) => {
    if (!ctx.alive()) return;
    const layer = L.geoJSON(fc, {
      interactive: false,
      style: (f) => (f?.properties.code === user.township_code ? { ...outlineStyle, weight: 3 } : outlineStyle),
    }).addTo(map);
    const own = fc.features.find((f) => f.properties.code === user.township_code);
    if (draft.lat !== null && draft.lon !== null && marker) map.setView(marker.getLatLng(), 15);
    else map.fitBounds(own ? L.geoJSON(own).getBounds() : layer.getBounds());
    mapEl.dataset.framed = "1"; // the map now shows the user's township (tests wait for this)
  }).catch((err) => mapMsg.show(`地图加载失败：${errorText(err)}`, "error"));
  const showGrids = () => {
    if (!user.township_code || map.getZoom() < GRID_ZOOM) {
      if (gridLayer) map.removeLayer(gridLayer);
      return;
    }
    if (gridLayer) {
      gridLayer.addTo(map);
      return;
    }
    insideTownship(user.township_code).then(({ grids }) => {
      if (!ctx.alive() || gridLayer) return;
      const fc: JCollection = { type: "FeatureCollection", features: grids };
      gridLayer = L.geoJSON(fc, { interactive: false, style: gridStyle });
      if (map.getZoom() >= GRID_ZOOM) gridLayer.addTo(map);
    }).catch(() => undefined);
  };
  map.on("zoomend", showGrids);
  map.on("click", (ev: L.LeafletMouseEvent) => place(ev.latlng.lng, ev.latlng.lat, "wgs84"));

  const mapMsg = note("map-status");
  const hereBtn = h("button", { type: "button", class: "btn", testid: "locate-me" }, "使用当前位置");
  const coordsEl = h("span", { class: "muted", testid: "coords" }, "在地图上点选事件位置");
  const locateEl = h("div", { class: "locate-result", testid: "locate-result", "data-state": "none" });
  const nearBox = h("input", { type: "checkbox", testid: "near-boundary-confirm" });
  const nearText = h("span");
  const nearEl = h("label", { class: "near-boundary", testid: "near-boundary", hidden: true }, nearBox, nearText);

  async function place(lon: number, lat: number, crs: "wgs84" | "gcj02", fromDraft = false) {
    draft.lon = lon;
    draft.lat = lat;
    draft.crs = crs;
    void save();
    located = null;
    locateOffline = false;
    nearBox.checked = false;
    nearEl.hidden = true;
    if (crs === "wgs84") putMarker(lat, lon, !fromDraft);
    coordsEl.textContent = `${crs === "gcj02" ? "GCJ-02" : "WGS84"} ${lon.toFixed(6)}, ${lat.toFixed(6)}`;
    locateEl.dataset.state = "loading";
    fill(locateEl, "正在确定所属网格…");
    refreshSubmit();
    const mine = ++locateSeq;
    try {
      const result = await api<LocateResult>(`/api/locate?lon=${lon}&lat=${lat}&crs=${crs}`);
      if (mine !== locateSeq || !ctx.alive()) return;
      located = result;
      if (crs !== "wgs84") putMarker(result.wgs84.lat, result.wgs84.lon, true);
      showLocated(result);
    } catch (err) {
      if (mine !== locateSeq || !ctx.alive()) return;
      locateOffline = err instanceof NetworkError;
      locateEl.dataset.state = locateOffline ? "offline" : "error";
      fill(locateEl, locateOffline
        ? "当前无网络，暂时无法确定所属网格；可先提交为待发送，联网后由系统定位"
        : `定位查询失败：${errorText(err)}`);
    }
    refreshSubmit();
  }

  function putMarker(lat: number, lon: number, pan: boolean) {
    if (marker) marker.setLatLng([lat, lon]);
    else marker = pointMarker(lat, lon).addTo(map);
    if (pan) map.setView([lat, lon], Math.max(map.getZoom() || 0, 15));
  }

  function showLocated(r: LocateResult) {
    const chain = r.chain.filter((c) => c.level in LEVEL_NAMES);
    if (r.chain.length === 0) {
      locateEl.dataset.state = "outside";
      fill(locateEl, h("strong", null, "无法上报："), r.reason ?? "该位置不在任何辖区内", "。请重新选择位置。");
      return;
    }
    locateEl.dataset.state = "ok";
    fill(locateEl, chain.map((c) => h("div", { "data-level": c.level }, h("span", { class: "muted" }, `${LEVEL_NAMES[c.level]}：`), c.name)));
    if (r.near_boundary) {
      const { name, distance_m } = r.near_boundary;
      nearText.textContent = ` 该位置距离${name}不足${nearM}米（约${Math.round(distance_m)}米），请确认位置是否正确。勾选表示位置无误。`;
      nearEl.hidden = false;
    }
  }

  hereBtn.addEventListener("click", async () => {
    hereBtn.disabled = true;
    mapMsg.show("正在获取当前位置…");
    try {
      const dd = dingTalkPosition();
      const pos = dd ? await dd : await browserPosition();
      if (!ctx.alive()) return;
      mapMsg.clear();
      await place(pos.lon, pos.lat, dd ? "gcj02" : "wgs84");
    } catch (err) {
      mapMsg.show(`${(err as Error).message || "定位失败"}，请在地图上点选位置`, "error");
    } finally {
      hereBtn.disabled = false;
    }
  });
  nearBox.addEventListener("change", () => refreshSubmit());

  // What: the description and its matter.
  const desc = h("textarea", { testid: "description", rows: 4, maxlength: 4000, placeholder: "描述发现的问题，例如：某路口有人占道经营，堵塞人行道" });
  desc.value = draft.description;
  const picker = matterPicker(draft.matter_code, (code) => {
    draft.matter_code = code;
    void save();
  }, { alive: ctx.alive, onCleanup: ctx.onCleanup, text: () => desc.value });
  desc.addEventListener("input", () => {
    draft.description = desc.value;
    void save();
    picker.suggest(desc.value);
    refreshSubmit();
  });

  // 即报即办: handled on the spot, with what was done and a photo as evidence.
  const onSite = h("input", { type: "checkbox", testid: "on-site", checked: draft.handled_on_site });
  const onSiteNote = h("textarea", { testid: "on-site-note", rows: 3, maxlength: 2000, placeholder: "现场做了什么，例如：已劝离摊贩，恢复人行道通行" });
  onSiteNote.value = draft.on_site_note;
  const onSiteFields = h("div", { class: "on-site-fields", testid: "on-site-fields", hidden: !draft.handled_on_site },
    h("label", { class: "field" }, h("span", null, "现场处置情况", h("em", null, " *")), onSiteNote),
    h("p", { class: "muted small" }, "即报即办的事件不再派单，直接进入待核查；须上传至少一张现场照片作为处置凭证。"));
  onSite.addEventListener("change", () => {
    draft.handled_on_site = onSite.checked;
    onSiteFields.hidden = !onSite.checked;
    photoLabel.textContent = photoText();
    void save();
    refreshSubmit();
  });
  onSiteNote.addEventListener("input", () => {
    draft.on_site_note = onSiteNote.value;
    void save();
    refreshSubmit();
  });

  // Urgency, address, photos (kept with the draft as Blobs).
  const normal = h("input", { type: "radio", name: "urgency", value: "normal", testid: "urgency-normal", checked: !draft.urgent });
  const urgent = h("input", { type: "radio", name: "urgency", value: "urgent", testid: "urgency-urgent", checked: draft.urgent });
  for (const r of [normal, urgent]) r.addEventListener("change", () => { draft.urgent = urgent.checked; void save(); });
  const address = h("input", { type: "text", testid: "address", maxlength: 500, placeholder: "门牌号、店名、地标（选填）", value: draft.address });
  address.addEventListener("input", () => { draft.address = address.value; void save(); });
  const photoText = () => (draft.handled_on_site ? "现场照片（即报即办须至少一张，可多张）" : "现场照片（选填，可多张）");
  const photoLabel = h("span", null, photoText());
  const photoInput = h("input", { type: "file", accept: "image/jpeg,image/png,image/webp", capture: "environment", multiple: true, testid: "photos", class: "visually-hidden" });
  const thumbs = h("div", { class: "thumbs", testid: "photo-previews" });
  const drawThumbs = () => {
    objectUrls.splice(0).forEach((u) => URL.revokeObjectURL(u));
    thumbs.replaceChildren(...draft.photos.filter((p) => p.blob).map((p) => {
      const url = URL.createObjectURL(p.blob as Blob);
      objectUrls.push(url);
      const bad = (p.blob as Blob).size > MAX_PHOTO_BYTES || !PHOTO_TYPES.includes(p.type);
      return h("figure", { class: "thumb", testid: "photo-preview", "data-photo-id": p.id, "data-name": p.name },
        h("img", { src: url, alt: p.name, class: bad ? "too-big" : "" }),
        h("button", {
          type: "button", class: "btn btn-plain btn-small", testid: "photo-remove", "aria-label": `删除照片 ${p.name}`,
          onclick: () => {
            draft.photos = draft.photos.filter((x) => x.id !== p.id);
            void save();
            drawThumbs();
            refreshSubmit();
          },
        }, "删除"));
    }));
  };
  photoInput.addEventListener("change", () => {
    const files = Array.from(photoInput.files ?? []);
    draft.photos.push(...files.map((f) => ({ id: uuid4(), name: f.name, type: f.type, blob: f as Blob, uploaded: false })));
    photoInput.value = "";
    void save();
    drawThumbs();
    refreshSubmit();
  });
  ctx.onCleanup(() => objectUrls.forEach((u) => URL.revokeObjectURL(u)));
  drawThumbs();

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
  const discard = h("button", { type: "button", class: "btn btn-plain btn-small", testid: "draft-discard" }, "清空草稿");
  const fresh = h("button", { type: "button", class: "btn btn-small", testid: "draft-new" }, "新建草稿");

  function problem(): string | null {
    if (draft.lon === null || draft.lat === null) return "请先在地图上选择事件位置";
    if (!located && !locateOffline) return "正在确定所属网格，请稍候";
    if (located && located.chain.length === 0) return located.reason ?? "该位置不在任何辖区内";
    if (located?.near_boundary && !nearBox.checked) return "请确认位置是否正确";
    if (!draft.description.trim()) return "请填写事件描述";
    if (draft.handled_on_site && !draft.on_site_note.trim()) return "即报即办请填写现场处置情况";
    if (draft.handled_on_site && draft.photos.length === 0) return "即报即办须上传至少一张现场照片作为处置凭证";
    if (draft.photos.some((p) => p.blob && p.blob.size > MAX_PHOTO_BYTES)) return "有照片超过 10 MB，请删除后再提交";
    if (draft.photos.some((p) => !PHOTO_TYPES.includes(p.type))) return "只能上传 JPEG、PNG 或 WebP 格式的照片";
    return null;
  }
  function refreshSubmit() {
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
    draft = { ...(stored ?? draft), state: "draft", error };
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
    await saving;
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
        draft = (await getDraft(draft.client_id)) ?? draft;
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
      setStatus(attempt === 0 ? "网络异常，正在重试…" : `网络异常，正在重试…（第 ${attempt + 1} 次）`, "retrying", "error");
      cancel.hidden = false;
      await sleep(Math.min(30000, 1000 * 2 ** attempt), () => cancelled || !ctx.alive());
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
    await saving;
    await deleteDraft(draft.client_id).catch(() => undefined);
    reopen(user.username, "");
  });
  fresh.addEventListener("click", async () => {
    if (busy) return;
    await saving;
    reopen(user.username, "");
  });

  const list = reportList({
    username: user.username, currentId: () => draft.client_id, open: (id) => reopen(user.username, id),
    onCleanup: ctx.onCleanup, alive: ctx.alive,
  });

  ctx.root.append(
    h("div", { class: "page page-report" },
      h("h1", null, "事件上报"), net, storeMsg.el,
      h("section", { class: "panel" },
        h("h2", null, "① 位置"), mapEl,
        h("div", { class: "row" }, hereBtn, coordsEl), mapMsg.el, locateEl, nearEl),
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
      h("section", { class: "panel" },
        h("h2", null, "③ 处置与照片"),
        h("label", { class: "radio on-site" }, onSite, " 即报即办（已在现场处置完毕）"), onSiteFields,
        h("div", { class: "field" }, photoLabel, h("label", { class: "btn btn-file" }, "拍照或选择照片", photoInput)), thumbs),
      h("section", { class: "panel" }, submit, hint, cancel, status.el,
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

  if (draft.lon !== null && draft.lat !== null) void place(draft.lon, draft.lat, draft.crs, true);
  if (draft.description) picker.suggest(draft.description);
  refreshSubmit();
}
