// What the signed-in user may use, as the server computed it from its rules (GET /api/auth/me):
// the pages show only these boards and buttons; the server still decides every request.

import { getUser } from "./api";
import type { User } from "./types";

/** The pages of the app and the board (or action) each needs. */
const PAGE_NEEDS: Record<string, { board?: string; action?: string }> = {
  report: { action: "report" },
  county: { board: "county" },
  events: { board: "county" },
  township: { board: "township" },
  department: { board: "department" },
  verify: { action: "verify" },
  event: {},
  dispute: {},
  "admin/users": { action: "manage_reference" },
  "admin/reference": { action: "manage_reference" },
  lists: {},
  staffing: { action: "review_list_change" },
  workload: { action: "read_workload" },
  assessment: { action: "read_reports" },
};

export const PAGE_LABEL: Record<string, string> = {
  report: "事件上报", county: "县指挥中心看板", township: "乡镇看板", department: "部门待办", event: "事件详情",
  verify: "现场核查", "admin/users": "用户管理", "admin/reference": "基础数据",
  events: "事件列表", lists: "责任清单", staffing: "清单审核", dispute: "争议详情", workload: "编制评估",
  assessment: "考核",
};

/** Whether the stored user carries the server's permissions (an older stored user does not). */
export const knowsPermissions = (user: User) => Array.isArray(user.actions) && Array.isArray(user.boards);

/** Whether the user may open a page. */
export function mayOpen(user: User, page: string): boolean {
  const needs = PAGE_NEEDS[page];
  if (!needs) return false;
  if (needs.board && !(user.boards ?? []).includes(needs.board)) return false;
  if (needs.action && !(user.actions ?? []).includes(needs.action)) return false;
  return true;
}

/** Whether the signed-in user may take an action (a policy Action code) in their own scope. */
export function may(action: string): boolean {
  return (getUser()?.actions ?? []).includes(action);
}
