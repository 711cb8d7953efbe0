// 事件上报: a grid worker on a phone places the point, describes what they found, and sends
// it. The draft (with its client_id) lives in localStorage until the server has the event, so
// a retry after a network failure can never create a second event.

import { ApiError, api, errorText, getConfig, getMatters, NetworkError, uploadPhoto } from "../api";
import { debounce, fill, h, uuid4 } from "../dom";
import { createMap, disposeMap, gridStyle, type JCollection, insideTownship, L, loadLevel, outlineStyle, pointMarker } from "../map";
import type { PageCtx } from "../page";
import type { EventPublic, LocateResult, Matter, Suggestions } from "../types";
import { fmtShort } from "../time";
import { note } from "../ui";

interface Draft {
  client_id: string;
  reported_at: string | null;
  lon: number | null;
  lat: number | null;
  crs: "wgs84" | "gcj02";
  description: string;
  matter_code: string | null;
  urgent: boolean;
  address: string;
}

const GRID_ZOOM = 13;
const LEVEL_NAMES: Record<string, string> = { township: "乡镇（街道）", village: "村（社区）", grid: "网格" };

const draftKey = (username: string) => `sipingtai.draft.${username}`;
const recentKey = (username: string) => `sipingtai.recent.${username}`;

interface Recent {
  id: number;
  at: string;
  text: string;
}

function loadRecent(username: string): Recent[] {
  try {
    const list = JSON.parse(localStorage.getItem(recentKey(username)) ?? "[]") as Recent[];
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

/** Remember the last reports made on this phone, so the worker can follow them. */
function remember(username: string, event: EventPublic): void {
  const list = [{ id: event.id, at: event.received_at, text: event.description.slice(0, 40) },
    ...loadRecent(username).filter((r) => r.id !== event.id)].slice(0, 10);
  localStorage.setItem(recentKey(username), JSON.stringify(list));
}

function loadDraft(username: string): Draft {
  try {
    const saved = JSON.parse(localStorage.getItem(draftKey(username)) ?? "null") as Draft | null;
    if (saved && typeof saved.client_id === "string") return saved;
  } catch {
    /* a broken draft is replaced */
  }
  return newDraft();
}

const newDraft = (): Draft => ({
  client_id: uuid4(), reported_at: null, lon: null, lat: null, crs: "wgs84",
  description: "", matter_code: null, urgent: false, address: "",
});

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

/** DingTalk's position (GCJ-02), when the page runs inside DingTalk. */
function dingTalkPosition(): Promise<{ lon: number; lat: number }> | null {
  const geo = (window as unknown as { dd?: { device?: { geolocation?: { get?: unknown } } } }).dd?.device?.geolocation;
  if (!geo || typeof geo.get !== "function") return null;
  const get = geo.get as (opts: object) => unknown;
  return new Promise((resolve, reject) => {
    const ok = (res: { longitude: number; latitude: number }) => resolve({ lon: Number(res.longitude), lat: Number(res.latitude) });
    const answer = get.call(geo, {
      targetAccuracy: 200, coordinate: 1, withReGeocode: false, useCache: false, onSuccess: ok, onFail: reject,
    });
    if (answer && typeof (answer as Promise<unknown>).then === "function") (answer as Promise<{ longitude: number; latitude: number }>).then(ok, reject);
  });
}

function browserPosition(): Promise<{ lon: number; lat: number }> {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) {
      reject(new Error("此浏览器不支持定位"));
      return;
    }
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lon: p.coords.longitude, lat: p.coords.latitude }),
      (e) => reject(new Error(e.code === 1 ? "未获得定位权限（或页面不是 HTTPS）" : "定位失败")),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 },
    );
  });
}

export function reportPage(ctx: PageCtx): void {
  const { user } = ctx;
  let draft = loadDraft(user.username);
  const save = () => localStorage.setItem(draftKey(user.username), JSON.stringify(draft));
  let located: LocateResult | null = null;
  let nearM = 50;
  getConfig().then((cfg) => (nearM = cfg.near_boundary_m || nearM)).catch(() => undefined);
  let locateSeq = 0;
  let busy = false;
  let cancelled = false;
  let photos: File[] = [];
  const objectUrls: string[] = [];

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
    draft = { ...draft, lon, lat, crs };
    save();
    located = null;
    nearBox.checked = false;
    nearEl.hidden = true;
    if (crs === "wgs84") putMarker(lat, lon, !fromDraft);
    coordsEl.textContent = `${crs === "gcj02" ? "GCJ-02" : "WGS84"} ${lon.toFixed(6)}, ${lat.toFixed(6)}`;
    locateEl.dataset.state = "loading";
    fill(locateEl, "正在确定所属网格…");
    const mine = ++locateSeq;
    try {
      const result = await api<LocateResult>(`/api/locate?lon=${lon}&lat=${lat}&crs=${crs}`);
      if (mine !== locateSeq || !ctx.alive()) return;
      located = result;
      if (crs !== "wgs84") putMarker(result.wgs84.lat, result.wgs84.lon, true);
      showLocated(result);
    } catch (err) {
      if (mine !== locateSeq || !ctx.alive()) return;
      locateEl.dataset.state = "error";
      fill(locateEl, `定位查询失败：${errorText(err)}`);
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

  // What: the description, suggested matters, the matter picker.
  const desc = h("textarea", { testid: "description", rows: 4, maxlength: 4000, placeholder: "描述发现的问题，例如：某路口有人占道经营，堵塞人行道" });
  desc.value = draft.description;
  const chips = h("div", { class: "chips", testid: "suggestions" });
  let matters: Matter[] = [];
  const chosenEl = h("div", { class: "matter-chosen", testid: "matter-chosen" });
  const search = h("input", { type: "search", testid: "matter-search", placeholder: "搜索事项：编码、名称或平台" });
  const options = h("div", { class: "matter-options", testid: "matter-options" });

  const suggest = debounce(async (text: string) => {
    if (text.trim().length < 2) {
      chips.replaceChildren();
      return;
    }
    try {
      const res = await api<Suggestions>(`/api/matters/suggest?text=${encodeURIComponent(text)}`);
      if (!ctx.alive() || desc.value !== text) return;
      // The server offers only suggestions above its floor; none: the reporter picks the matter.
      if (res.suggestions.length === 0) {
        chips.replaceChildren(h("span", { class: "muted", testid: "suggestions-none" }, "请选择事项"));
        return;
      }
      chips.replaceChildren(...res.suggestions.slice(0, 3).map((s) =>
        h("button", {
          type: "button", class: `chip${s.code === draft.matter_code ? " chip-on" : ""}`, testid: "suggestion-chip",
          "data-code": s.code, onclick: () => chooseMatter(s.code),
        }, `${s.name}`, h("small", null, s.platform ? ` ${s.platform}` : ""))));
    } catch {
      /* suggestions are a convenience */
    }
  }, 300);
  ctx.onCleanup(() => suggest.cancel());
  desc.addEventListener("input", () => {
    draft.description = desc.value;
    save();
    suggest(desc.value);
    refreshSubmit();
  });

  function chooseMatter(code: string | null) {
    draft.matter_code = code;
    save();
    const m = matters.find((x) => x.code === code);
    if (!code) fill(chosenEl, h("span", { class: "muted" }, "未选择事项（可不选，由系统按描述研判）"));
    else fill(chosenEl, h("span", { "data-code": code }, m ? `${m.code} ${m.name}${m.platform ? `（${m.platform}）` : ""}` : code),
      h("button", { type: "button", class: "btn btn-plain btn-small", testid: "matter-clear", onclick: () => chooseMatter(null) }, "清除"));
    chosenEl.dataset.code = code ?? "";
    chips.querySelectorAll<HTMLElement>(".chip").forEach((c) => c.classList.toggle("chip-on", c.dataset.code === code));
    renderOptions();
  }

  function renderOptions() {
    const q = search.value.trim().toLowerCase();
    if (!q) {
      options.replaceChildren();
      return;
    }
    const found = matters.filter((m) =>
      [m.code, m.name, m.platform ?? "", ...m.keywords].some((t) => t.toLowerCase().includes(q))).slice(0, 30);
    options.replaceChildren(...(found.length ? found.map((m) =>
      h("button", {
        type: "button", class: `matter-option${m.code === draft.matter_code ? " on" : ""}`, testid: "matter-option", "data-code": m.code,
        onclick: () => {
          chooseMatter(m.code);
          search.value = "";
          renderOptions();
        },
      }, h("b", null, m.code), ` ${m.name}`, h("small", null, m.platform ? ` ${m.platform}` : "")))
      : [h("div", { class: "muted" }, "没有匹配的事项")]));
  }
  search.addEventListener("input", renderOptions);
  getMatters().then((res) => {
    matters = res.matters;
    if (ctx.alive()) chooseMatter(draft.matter_code);
  }).catch(() => undefined);
  chooseMatter(draft.matter_code);

  // Urgency, address, photos.
  const normal = h("input", { type: "radio", name: "urgency", value: "normal", testid: "urgency-normal", checked: !draft.urgent });
  const urgent = h("input", { type: "radio", name: "urgency", value: "urgent", testid: "urgency-urgent", checked: draft.urgent });
  for (const r of [normal, urgent]) r.addEventListener("change", () => { draft.urgent = urgent.checked; save(); });
  const address = h("input", { type: "text", testid: "address", maxlength: 500, placeholder: "门牌号、店名、地标（选填）", value: draft.address });
  address.addEventListener("input", () => { draft.address = address.value; save(); });
  const photoInput = h("input", { type: "file", accept: "image/*", capture: "environment", multiple: true, testid: "photos" });
  const thumbs = h("div", { class: "thumbs", testid: "photo-previews" });
  photoInput.addEventListener("change", () => {
    photos = Array.from(photoInput.files ?? []);
    objectUrls.splice(0).forEach((u) => URL.revokeObjectURL(u));
    thumbs.replaceChildren(...photos.map((f) => {
      const url = URL.createObjectURL(f);
      objectUrls.push(url);
      return h("img", { src: url, alt: f.name, class: f.size > 10 * 1024 * 1024 ? "too-big" : "" });
    }));
    if (photos.some((f) => f.size > 10 * 1024 * 1024)) status.show("有照片超过 10 MB，将无法上传", "error");
  });
  ctx.onCleanup(() => objectUrls.forEach((u) => URL.revokeObjectURL(u)));

  // Sending.
  const submit = h("button", { type: "button", class: "btn btn-primary btn-block", testid: "submit" }, "提交上报");
  const cancel = h("button", { type: "button", class: "btn btn-plain btn-block", testid: "submit-cancel", hidden: true }, "取消重试");
  const status = note("submit-status");
  const discard = h("button", { type: "button", class: "btn btn-plain btn-small", testid: "draft-discard" }, "清空草稿");

  function problem(): string | null {
    if (draft.lon === null || draft.lat === null) return "请先在地图上选择事件位置";
    if (!located) return "正在确定所属网格，请稍候";
    if (located.chain.length === 0) return located.reason ?? "该位置不在任何辖区内";
    if (located.near_boundary && !nearBox.checked) return "请确认位置是否正确";
    if (!draft.description.trim()) return "请填写事件描述";
    return null;
  }
  function refreshSubmit() {
    submit.disabled = busy || problem() !== null;
    submit.title = problem() ?? "";
  }

  submit.addEventListener("click", async () => {
    const why = problem();
    if (why) {
      status.show(why, "error");
      return;
    }
    busy = true;
    cancelled = false;
    refreshSubmit();
    draft.reported_at ??= new Date().toISOString();
    save();
    const body = {
      client_id: draft.client_id, reported_at: draft.reported_at, lon: draft.lon, lat: draft.lat, crs: draft.crs,
      address: draft.address.trim() || null, description: draft.description.trim(), matter_code: draft.matter_code,
      urgency: draft.urgent ? "urgent" : "normal", source: "grid",
    };
    status.show("正在提交…");
    status.el.dataset.state = "sending";
    let event: EventPublic | null = null;
    for (let attempt = 0; !event; attempt++) {
      try {
        event = await api<EventPublic>("/api/events", { method: "POST", json: body });
      } catch (err) {
        if (!ctx.alive()) return;
        const retry = err instanceof NetworkError || (err instanceof ApiError && (err.status >= 500 || err.status === 429 || err.status === 408));
        if (!retry) {
          status.show(errorText(err), "error");
          status.el.dataset.state = "error";
          busy = false;
          refreshSubmit();
          return;
        }
        status.show(attempt === 0 ? "网络异常，正在重试…" : `网络异常，正在重试…（第 ${attempt + 1} 次）`, "error");
        status.el.dataset.state = "retrying";
        cancel.hidden = false;
        await sleep(Math.min(30000, 1000 * 2 ** attempt), () => cancelled || !ctx.alive());
        if (cancelled || !ctx.alive()) {
          cancel.hidden = true;
          status.show("已取消提交，草稿已保存，可稍后再提交", "info");
          status.el.dataset.state = "cancelled";
          busy = false;
          refreshSubmit();
          return;
        }
      }
    }
    cancel.hidden = true;
    // The server has it: the draft is done; photos follow.
    localStorage.removeItem(draftKey(user.username));
    remember(user.username, event);
    const failed: string[] = [];
    for (const [i, file] of photos.entries()) {
      status.show(`事件已上报（#${event.id}），正在上传照片 ${i + 1}/${photos.length}…`, "ok");
      let done = false;
      for (let attempt = 0; attempt < 3 && !done; attempt++) {
        try {
          await uploadPhoto(event.id, file);
          done = true;
        } catch (err) {
          if (err instanceof ApiError && err.status < 500) break;
          await sleep(1000 * 2 ** attempt, () => !ctx.alive());
        }
      }
      if (!done) failed.push(file.name);
    }
    status.el.dataset.state = "done";
    if (failed.length === 0) {
      location.hash = `#/event/${event.id}`;
      return;
    }
    status.show(`事件已上报（#${event.id}），但 ${failed.length} 张照片上传失败：${failed.join("、")}`, "error");
    fill(status.el, status.el.textContent ?? "", " ", h("a", { href: `#/event/${event.id}`, testid: "event-link" }, "查看事件"));
  });
  cancel.addEventListener("click", () => { cancelled = true; });
  discard.addEventListener("click", () => {
    if (busy || !confirm("清空当前草稿？")) return;
    localStorage.removeItem(draftKey(user.username));
    location.reload();
  });

  ctx.root.append(
    h("div", { class: "page page-report" },
      h("h1", null, "事件上报"),
      h("section", { class: "panel" },
        h("h2", null, "① 位置"), mapEl,
        h("div", { class: "row" }, hereBtn, coordsEl), mapMsg.el, locateEl, nearEl),
      h("section", { class: "panel" },
        h("h2", null, "② 事件描述"),
        h("label", { class: "field" }, h("span", null, "描述", h("em", null, " *")), desc),
        h("div", { class: "field" }, h("span", null, "推荐事项（点选）"), chips),
        h("div", { class: "field" }, h("span", null, "事项"), chosenEl, search, options),
        h("div", { class: "field" }, h("span", null, "紧急程度"),
          h("div", { class: "radios" },
            h("label", { class: "radio" }, normal, " 一般"),
            h("label", { class: "radio" }, urgent, " 紧急"))),
        h("label", { class: "field" }, h("span", null, "地址（选填）"), address),
        h("label", { class: "field" }, h("span", null, "现场照片（选填，可多张）"), photoInput), thumbs),
      h("section", { class: "panel" }, submit, cancel, status.el,
        h("div", { class: "row row-end" }, h("span", { class: "muted small", testid: "client-id" }, `草稿编号 ${draft.client_id.slice(0, 8)}`), discard))));

  const recent = loadRecent(user.username);
  if (recent.length) {
    ctx.root.firstElementChild?.append(h("section", { class: "panel", testid: "recent-reports" },
      h("h2", null, "最近上报"),
      h("ul", { class: "event-list" }, recent.map((r) => h("li", null,
        h("a", { href: `#/event/${r.id}`, testid: "event-link", "data-event-id": r.id }, `#${r.id}`), " ",
        h("span", { class: "muted small" }, fmtShort(r.at)), " ", r.text)))));
  }

  if (draft.lon !== null && draft.lat !== null) void place(draft.lon, draft.lat, draft.crs, true);
  if (draft.description) suggest(draft.description);
  refreshSubmit();
}
