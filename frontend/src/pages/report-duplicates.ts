// The report page's warning before submitting (as FixMyStreet does): once the point is located
// and a matter chosen, the open events of that matter nearby, each with a link to open it.
// It never blocks: the reporter may submit anyway.

import { errorText } from "../api";
import { debounce, fill, h } from "../dom";
import { candidateItem, duplicatesOfDraft, type DraftProbe } from "../duplicates";

const WAIT_MS = 400; // after the last change of point or matter

export interface DuplicateWarning {
  el: HTMLElement;
  /** The draft as it is now; null when its point is not located or no matter is chosen. */
  update(probe: DraftProbe | null): void;
}

export function duplicateWarning(alive: () => boolean): DuplicateWarning {
  const list = h("div", { class: "list" });
  const el = h("div", { class: "note note-warn duplicate-warning", testid: "duplicate-warning", hidden: true, "data-count": 0 },
    h("b", null, "附近可能已有相同事件"),
    h("p", { class: "small" }, "以下事件与本次上报事项相同、位置相近、时间相近。如是同一问题，可打开查看，无需重复上报；如确认不是，可继续提交。"),
    list);
  let shownKey = "";
  let pending: AbortController | null = null;

  const look = debounce((probe: DraftProbe, key: string) => {
    pending?.abort();
    const mine = new AbortController();
    pending = mine;
    duplicatesOfDraft(probe, mine.signal).then((found) => {
      if (!alive() || key !== shownKey) return;
      const items = found.candidates;
      el.dataset.count = String(items.length);
      el.hidden = items.length === 0;
      fill(list, items.map((c) => candidateItem(c, null,
        h("a", { class: "btn btn-small", href: `#/event/${c.id}`, testid: "duplicate-open", "data-event-id": c.id }, "打开查看"))));
    }).catch((err) => {
      if ((err as Error).name === "AbortError" || !alive() || key !== shownKey) return;
      el.hidden = true; // a failed look-up is no reason to stop a report
      console.warn("duplicates:", errorText(err));
    });
  }, WAIT_MS);

  return {
    el,
    update(probe) {
      const key = probe ? `${probe.lon},${probe.lat},${probe.crs},${probe.matter_code}` : "";
      if (key === shownKey) return;
      shownKey = key;
      if (!probe) {
        look.cancel();
        pending?.abort();
        el.hidden = true;
        el.dataset.count = "0";
        fill(list);
        return;
      }
      look(probe, key);
    },
  };
}
