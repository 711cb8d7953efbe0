// 合并重复事件 on the event page: the command centre sees the likely duplicates (distance, time
// apart, status, description), picks the one this event repeats, confirms, and it is merged.

import { act, errorText, getMatters } from "../api";
import { fill, h } from "../dom";
import { candidateItem, duplicatesOfEvent, type Candidate } from "../duplicates";
import type { EventDetail, Role } from "../types";
import { note } from "../ui";
import vocabulary from "../vocabulary.json";

const MERGEABLE = new Set<string>(vocabulary.mergeable_event_status);
const MERGERS = new Set<Role>(["command_centre", "admin"]);

export interface MergePanel {
  el: HTMLElement;
  /** Show the panel for the event as it is now (hidden when it may not be merged). */
  update(detail: EventDetail): void;
}

/** The merge panel of one event, for the roles that may merge. */
export function mergePanel(eventId: number, role: Role, alive: () => boolean): MergePanel {
  const list = h("div", { class: "list", testid: "duplicate-candidates" });
  const result = note("merge-result");
  const el = h("section", { class: "panel", testid: "duplicates-panel", hidden: true },
    h("h2", null, "可能重复的事件"),
    h("p", { class: "muted small" }, "同一事项、200 米内、前后 72 小时内上报且尚未办结的事件。选定主事件后，本事件将合并到该事件，本事件的未完成任务随之撤销。"),
    list, result.el);
  let matterNames = new Map<string, string>();
  let loaded = false;
  let status = "";
  let merging = false; // this page merged (or is merging) the event: keep the result in view

  function load() {
    fill(list, h("p", { class: "muted" }, "正在查找…"));
    duplicatesOfEvent(eventId).then((found) => {
      if (!alive()) return;
      const items = found.candidates;
      fill(list, items.length ? items.map(row) : h("p", { class: "muted", testid: "duplicates-none" }, "附近没有可能重复的事件"));
    }).catch((err) => fill(list, h("p", { class: "note note-error" }, errorText(err))));
  }

  function row(c: Candidate): HTMLElement {
    const msg = note("merge-error");
    const reason = h("input", { type: "text", maxlength: 2000, testid: "merge-reason", placeholder: "说明（选填），默认「与事件 #N 重复」" });
    const confirmBox = h("div", { class: "action-form", testid: "merge-confirm", hidden: true },
      h("p", null, h("b", null, `确认将本事件 #${eventId} 合并到事件 #${c.id}？`), " 合并后不能撤销。"),
      h("label", { class: "field" }, h("span", null, "合并说明"), reason), msg.el);
    const submit = h("button", { type: "button", class: "btn btn-danger", testid: "merge-confirm-submit" }, "确认合并");
    const cancel = h("button", { type: "button", class: "btn btn-plain", testid: "merge-cancel" }, "取消");
    confirmBox.append(h("div", { class: "form-buttons" }, submit, cancel));
    const pick = h("button", { type: "button", class: "btn", testid: "merge-pick" }, "合并到此事件");
    pick.addEventListener("click", () => {
      list.querySelectorAll<HTMLElement>("[data-testid=merge-confirm]").forEach((x) => (x.hidden = true));
      confirmBox.hidden = false;
      reason.focus();
    });
    cancel.addEventListener("click", () => (confirmBox.hidden = true));
    submit.addEventListener("click", async () => {
      submit.disabled = true;
      msg.clear();
      merging = true;
      try {
        await act(`/api/events/${eventId}/merge`, { into_id: c.id, reason: reason.value.trim() || null });
        fill(list);
        result.show(`已合并到事件 #${c.id}`, "ok");
        result.el.append(" ", h("a", { href: `#/event/${c.id}`, testid: "merge-master-link", "data-event-id": c.id }, "查看主事件"));
      } catch (err) {
        merging = false;
        msg.show(errorText(err), "error");
      } finally {
        submit.disabled = false;
      }
    });
    const matter = c.matter_code ? `${c.matter_code} ${matterNames.get(c.matter_code) ?? ""}`.trim() : null;
    return candidateItem(c, matter, h("div", { class: "row" }, pick), confirmBox);
  }

  getMatters().then((m) => (matterNames = new Map(m.matters.map((x) => [x.code, x.name])))).catch(() => undefined);

  return {
    el,
    update(detail) {
      if (!MERGERS.has(role)) return;
      const mergeable = MERGEABLE.has(detail.status);
      if (detail.status === status) return;
      status = detail.status;
      if (!mergeable) {
        // Past merging: hidden, unless this page just merged it and shows the result.
        if (!merging) el.hidden = true;
        return;
      }
      el.hidden = false;
      if (!loaded) {
        loaded = true;
        load();
      }
    },
  };
}
