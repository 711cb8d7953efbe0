// 关闭任务: the verifier closes a part (co-operating or territorial) that no longer applies,
// with the reason; the event is resolved once no part is left open.

import { act } from "../api";
import { h } from "../dom";
import type { Assignment, EventDetail, User } from "../types";
import { actionForm } from "../ui";

const CLOSABLE_PART = new Set(["pending", "signed", "returned"]);
const CLOSABLE_EVENT = new Set(["dispatched", "in_progress", "reopened", "resolved"]);

/** Whether this user verifies the event's township (the server checks again). */
function verifies(user: User, d: EventDetail): boolean {
  return (user.role === "township_operator" || user.role === "grid_worker") && !!d.township_code && user.township_code === d.township_code;
}

/** A page's 关闭任务 forms, one per part, kept across renders so a live update spares what is typed. */
export function closePartActions(user: User): (d: EventDetail, a: Assignment) => HTMLElement | null {
  const forms = new Map<number, HTMLElement>();
  return (d, a) => {
    if (a.role === "lead" || !CLOSABLE_PART.has(a.status) || !CLOSABLE_EVENT.has(d.status) || !verifies(user, d)) return null;
    let form = forms.get(a.id);
    if (!form) forms.set(a.id, (form = closePartForm(a)));
    return form;
  };
}

function closePartForm(a: Assignment): HTMLElement {
  return h("div", { class: "actions" }, actionForm("关闭任务", "close-part-toggle", {
    testid: "close-part-form",
    submit: "确认关闭",
    danger: true,
    fields: [{ name: "reason", label: "关闭理由", kind: "textarea", required: true, placeholder: "说明该任务为何已不再需要，如问题已消除" }],
    run: (v) => act(`/api/assignments/${a.id}/close`, { reason: v.reason }),
  }));
}
