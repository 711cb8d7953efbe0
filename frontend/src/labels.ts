// zh-CN labels for the codes the API speaks.

export const EVENT_STATUS: Record<string, string> = {
  reported: "已上报", needs_triage: "待研判", dispatched: "已派单", in_progress: "处置中",
  resolved: "待核查", verified: "已核查", closed: "已办结", rated: "已回访",
  reopened: "已重启", invalid: "无效", merged: "已合并",
};

export const ASSIGNMENT_STATUS: Record<string, string> = {
  pending: "待签收", signed: "处置中", fed_back: "已反馈", returned: "已退回", cancelled: "已撤销",
};

export const ASSIGNMENT_ROLE: Record<string, string> = { lead: "牵头", co: "协办", territorial: "属地" };

export const USER_ROLE: Record<string, string> = {
  grid_worker: "网格员", township_operator: "乡镇指挥室", department_staff: "部门",
  command_centre: "县指挥中心", admin: "管理员",
};

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
  refuse_return: "不予退回", redispatch: "改派", rework: "重办", cancel: "撤销", attach: "上传照片",
};

/** Statuses after which nobody needs to act any more. */
export const FINISHED = new Set(["closed", "rated", "invalid", "merged"]);
export const isOpen = (status: string) => !FINISHED.has(status);

export const label = (table: Record<string, string>, code: string | null | undefined) =>
  code ? (table[code] ?? code) : "—";
