// The matter of a report: chips suggested from the description, and a search over the list.

import { api, getMatters } from "../api";
import { debounce, fill, h } from "../dom";
import type { Matter, Suggestions } from "../types";

export interface MatterPicker {
  chips: HTMLElement;
  chosen: HTMLElement;
  search: HTMLInputElement;
  options: HTMLElement;
  /** Suggest matters for a description (~300 ms after the last call). */
  suggest(text: string): void;
}

/** Build the picker; onChoose gets the chosen code (null when cleared). */
export function matterPicker(
  initial: string | null,
  onChoose: (code: string | null) => void,
  page: { alive(): boolean; onCleanup(fn: () => void): void; text(): string },
): MatterPicker {
  let current = initial;
  let matters: Matter[] = [];
  const chips = h("div", { class: "chips", testid: "suggestions" });
  const chosen = h("div", { class: "matter-chosen", testid: "matter-chosen" });
  const search = h("input", { type: "search", testid: "matter-search", placeholder: "搜索事项：编码、名称或平台" });
  const options = h("div", { class: "matter-options", testid: "matter-options" });

  const suggest = debounce(async (text: string) => {
    if (text.trim().length < 2) {
      chips.replaceChildren();
      return;
    }
    try {
      const res = await api<Suggestions>(`/api/matters/suggest?text=${encodeURIComponent(text)}`);
      if (!page.alive() || page.text() !== text) return;
      // The server offers only suggestions above its floor; none: the reporter picks the matter.
      if (res.suggestions.length === 0) {
        chips.replaceChildren(h("span", { class: "muted", testid: "suggestions-none" }, "请选择事项"));
        return;
      }
      chips.replaceChildren(...res.suggestions.slice(0, 3).map((s) =>
        h("button", {
          type: "button", class: `chip${s.code === current ? " chip-on" : ""}`, testid: "suggestion-chip",
          "data-code": s.code, onclick: () => choose(s.code),
        }, `${s.name}`, h("small", null, s.platform ? ` ${s.platform}` : ""))));
    } catch {
      /* suggestions are a convenience */
    }
  }, 300);
  page.onCleanup(() => suggest.cancel());

  function show(code: string | null) {
    const m = matters.find((x) => x.code === code);
    if (!code) fill(chosen, h("span", { class: "muted" }, "未选择事项（可不选，由系统按描述研判）"));
    else fill(chosen, h("span", { "data-code": code }, m ? `${m.code} ${m.name}${m.platform ? `（${m.platform}）` : ""}` : code),
      h("button", { type: "button", class: "btn btn-plain btn-small", testid: "matter-clear", onclick: () => choose(null) }, "清除"));
    chosen.dataset.code = code ?? "";
    chips.querySelectorAll<HTMLElement>(".chip").forEach((c) => c.classList.toggle("chip-on", c.dataset.code === code));
    renderOptions();
  }

  function choose(code: string | null) {
    current = code;
    onChoose(code);
    show(code);
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
        type: "button", class: `matter-option${m.code === current ? " on" : ""}`, testid: "matter-option", "data-code": m.code,
        onclick: () => {
          choose(m.code);
          search.value = "";
          renderOptions();
        },
      }, h("b", null, m.code), ` ${m.name}`, h("small", null, m.platform ? ` ${m.platform}` : "")))
      : [h("div", { class: "muted" }, matters.length ? "没有匹配的事项" : "事项清单未加载（可能无网络）")]));
  }
  search.addEventListener("input", renderOptions);
  getMatters().then((res) => {
    matters = res.matters;
    if (page.alive()) show(current);
  }).catch(() => undefined);
  show(current);
  return { chips, chosen, search, options, suggest };
}
