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

export const STEP_ACTION: Record<string, string> = {
  report: "上报", route: "分拨", dispatch: "派单", need_triage: "转人工研判", handle_on_site: "即报即办",
  triage_route: "人工分拨", lead_sign: "牵头部门签收", all_fed_back: "全部反馈", verify_pass: "核查通过",
  verify_fail: "核查不通过", close: "办结", rate_satisfied: "回访（满意）", rate_unsatisfied: "回访（不满意，重启）",
  mark_invalid: "作废", merge: "合并", merged_in: "并入", sign: "签收", return: "退回", feed_back: "反馈",
  refuse_return: "不予退回", redispatch: "改派", rework: "重办", cancel: "撤销", close_part: "关闭任务", attach: "上传照片",
};

/** Statuses in which someone still has to act (the server's definition of open). */
const OPEN = new Set<string>(vocabulary.open_event_status);
export const isOpen = (status: string) => OPEN.has(status);

export const label = (table: Record<string, string>, code: string | null | undefined) =>
  code ? (table[code] ?? code) : "—";
