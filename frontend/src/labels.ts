// zh-CN labels for the codes the API speaks.

import vocabulary from "./vocabulary.json";

// The API's own label tables, written from the server code by `./dev types`: one definition.
export const EVENT_STATUS: Record<string, string> = vocabulary.event_status;
export const ASSIGNMENT_STATUS: Record<string, string> = vocabulary.assignment_status;
export const ASSIGNMENT_ROLE: Record<string, string> = vocabulary.assignment_role;
export const USER_ROLE: Record<string, string> = vocabulary.user_role;
export const HANDLING_MODE: Record<string, string> = vocabulary.handling_mode;
export const HEALTH_REASON: Record<string, string> = vocabulary.health_reason;
export const CAME_BACK: Record<string, string> = vocabulary.came_back;

export const DELTA_TYPE: Record<string, string> = {
  reported: "新上报", routed: "已分拨", needs_triage: "待研判", signed: "签收", returned: "退回",
  fed_back: "反馈", redispatched: "改派", return_refused: "不予退回", verified: "核查通过",
  verify_failed: "核查不通过", closed: "办结", rated: "回访", reopened: "重启", invalid: "作废",
  merged: "合并", deadline_near: "临期预警", overdue: "超期", changed: "更新",
};

// Every step's name, from the server's table; a step the table does not know reads 流转.
export const STEP_ACTION: Record<string, string> = vocabulary.step_action;
/** Every assessment measure's Chinese name and unit (dispatch/reports/measures.py). */
export const MEASURE: Record<string, { label: string; unit: string; higher_is_better: boolean | null }> =
  vocabulary.measure;
export const stepName = (action: string) => STEP_ACTION[action] ?? "流转";

/** Statuses in which someone still has to act (the server's definition of open). */
const OPEN = new Set<string>(vocabulary.open_event_status);
export const isOpen = (status: string) => OPEN.has(status);

export const label = (table: Record<string, string>, code: string | null | undefined) =>
  code ? (table[code] ?? code) : "—";
