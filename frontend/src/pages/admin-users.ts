// 用户管理 #/admin/users: the administrator lists and searches the users, adds one with the
// scope its role needs, deactivates or reactivates, resets a password and changes role and
// scope. A password the server generates is shown once, here.

import { api, errorText, getDepartments } from "../api";
import type { components } from "../api-types";
import { fill, h } from "../dom";
import { USER_ROLE, label } from "../labels";
import { names } from "../map";
import type { PageCtx } from "../page";
import { fmtShort } from "../time";
import type { Department, Role } from "../types";
import { actionForm, note, section, setOptions } from "../ui";
import vocabulary from "../vocabulary.json";

type AdminUser = components["schemas"]["UserAdminPublic"];
type UsersPage = components["schemas"]["UsersPage"];
type WithPassword = components["schemas"]["UserWithPassword"];

const TOWNSHIP_ROLES = new Set<string>(["grid_worker", "township_operator"]);
const DEPARTMENT_KIND: Record<string, string> = vocabulary.department_kind;
const ROLES = Object.keys(USER_ROLE).map((value) => ({ value, label: USER_ROLE[value] }));

/** What a role's scope is: a township, a department, or the whole county. */
const scopeOf = (role: string) => (TOWNSHIP_ROLES.has(role) ? "township" : role === "department_staff" ? "department" : "none");

export function adminUsersPage(ctx: PageCtx): void {
  const page = h("div", { class: "page page-admin" }, h("h1", null, "用户管理"));
  ctx.root.append(page);
  if (ctx.user.role !== "admin") {
    page.append(h("div", { class: "banner banner-error", testid: "admin-forbidden" }, "仅系统管理员可以管理用户"));
    return;
  }
  let townships: { value: string; label: string }[] = [];
  let departments: { value: string; label: string }[] = [];

  const shown = h("div", { class: "note note-ok", testid: "generated-password-box", hidden: true });
  function showPassword(result: WithPassword, what: string) {
    if (!result.generated_password) {
      fill(shown, `${what}：${result.user.username}（密码为您设定的临时密码）`);
    } else {
      fill(shown, `${what}：${result.user.username}。临时密码（仅显示这一次，请告知本人并提醒其尽快修改）：`,
        h("span", { class: "secret", testid: "generated-password", "data-username": result.user.username }, result.generated_password));
    }
    shown.hidden = false;
  }

  // Scope controls that follow the chosen role.
  function scopeControls() {
    const role = h("select", null, ROLES.map((r) => h("option", { value: r.value }, r.label)));
    const township = h("select");
    const department = h("select");
    const sync = () => {
      const scope = scopeOf(role.value);
      setOptions(township, [{ value: "", label: "请选择乡镇" }, ...townships]);
      setOptions(department, [{ value: "", label: "请选择部门" }, ...departments]);
      (township.closest("label") as HTMLElement | null)?.toggleAttribute("hidden", scope !== "township");
      (department.closest("label") as HTMLElement | null)?.toggleAttribute("hidden", scope !== "department");
    };
    role.addEventListener("change", sync);
    return { role, township, department, sync };
  }
  const scopeBody = (v: Record<string, string>) => {
    const scope = scopeOf(v.role);
    return {
      role: v.role as Role,
      township_code: scope === "township" ? v.township_code || null : null,
      department_id: scope === "department" && v.department_id ? Number(v.department_id) : null,
    };
  };
  const scopeProblem = (v: Record<string, string>) => {
    const scope = scopeOf(v.role);
    if (scope === "township" && !v.township_code) return `${label(USER_ROLE, v.role)}须选择所属乡镇`;
    if (scope === "department" && !v.department_id) return "部门工作人员须选择所属部门";
    return null;
  };

  const addScope = scopeControls();
  const addForm = actionForm("添加用户", "user-add-toggle", {
    testid: "user-add",
    submit: "添加",
    fields: [
      { name: "username", label: "用户名（3–100 位小写字母、数字或 . _ -）", required: true },
      { name: "display_name", label: "显示名称" },
      { name: "role", label: "角色", required: true, control: addScope.role },
      { name: "township_code", label: "所属乡镇", control: addScope.township },
      { name: "department_id", label: "所属部门", control: addScope.department },
      { name: "password", label: "初始密码（留空则由系统生成）", placeholder: "至少 8 位" },
    ],
    check: scopeProblem,
    async run(v) {
      const result = await api<WithPassword>("/api/users", {
        method: "POST",
        json: { username: v.username, display_name: v.display_name || null, password: v.password || null, ...scopeBody(v) },
      });
      showPassword(result, "已添加用户");
      await load();
      addScope.role.value = ROLES[0].value;
      queueMicrotask(addScope.sync);
    },
  });
  (addForm.querySelector("[data-testid=user-add-password]") as HTMLInputElement).type = "password";

  const search = h("input", { type: "search", testid: "user-search", placeholder: "搜索用户名或显示名称" });
  const roleFilter = h("select", { testid: "user-filter-role" }, h("option", { value: "" }, "全部角色"), ROLES.map((r) => h("option", { value: r.value }, r.label)));
  const activeFilter = h("select", { testid: "user-filter-active" },
    h("option", { value: "" }, "全部状态"), h("option", { value: "true" }, "启用"), h("option", { value: "false" }, "已停用"));
  const countEl = h("span", { class: "muted", testid: "user-count" });
  const list = h("div", { class: "list", testid: "user-list" });
  const msg = note("users-error");

  page.append(shown,
    section("添加用户", "user-add-panel", addForm),
    section("用户列表", "users-panel",
      h("div", { class: "row" }, search, roleFilter, activeFilter, countEl), msg.el, list));

  let seq = 0;
  async function load() {
    const mine = ++seq;
    const params = new URLSearchParams({ limit: "200" });
    if (search.value.trim()) params.set("q", search.value.trim());
    if (roleFilter.value) params.set("role", roleFilter.value);
    if (activeFilter.value) params.set("active", activeFilter.value);
    try {
      const found = await api<UsersPage>(`/api/users?${params}`);
      if (mine !== seq || !ctx.alive()) return;
      msg.clear();
      countEl.textContent = `共 ${found.count} 人`;
      countEl.dataset.count = String(found.count);
      fill(list, found.data.length ? found.data.map(userRow) : h("p", { class: "muted", testid: "users-empty" }, "没有符合条件的用户"));
    } catch (err) {
      msg.show(errorText(err), "error");
    }
  }
  let timer = 0;
  search.addEventListener("input", () => { window.clearTimeout(timer); timer = window.setTimeout(load, 300); });
  ctx.onCleanup(() => window.clearTimeout(timer));
  roleFilter.addEventListener("change", load);
  activeFilter.addEventListener("change", load);

  function userRow(u: AdminUser): HTMLElement {
    const scope = u.township_name ?? u.department_name ?? (u.township_code || (u.department_id ? `部门 #${u.department_id}` : "全县"));
    const err = note("user-action-error");
    const confirmed = (text: string) => window.confirm(text);
    async function run(work: () => Promise<unknown>) {
      err.clear();
      try {
        await work();
        await load();
      } catch (e) {
        err.show(errorText(e), "error");
      }
    }
    const self = u.id === ctx.user.id;
    const toggleActive = u.active
      ? h("button", { type: "button", class: "btn btn-danger-outline btn-small", testid: "user-deactivate", disabled: self, title: self ? "不能停用自己的账号" : "" }, "停用")
      : h("button", { type: "button", class: "btn btn-small", testid: "user-reactivate" }, "重新启用");
    toggleActive.addEventListener("click", () => {
      if (u.active) {
        if (!confirmed(`确定停用用户「${u.display_name || u.username}」？停用后该用户立即退出登录，不能再登录。`)) return;
        void run(() => api(`/api/users/${u.id}/deactivate`, { method: "POST", json: { version: u.version } }));
      } else {
        if (!confirmed(`确定重新启用用户「${u.display_name || u.username}」？系统将生成新的临时密码。`)) return;
        void run(async () => showPassword(await api<WithPassword>(`/api/users/${u.id}/reactivate`, { method: "POST", json: { version: u.version } }), "已重新启用"));
      }
    });
    const reset = actionForm("重置密码", "reset-toggle", {
      testid: "reset-form",
      submit: "重置密码",
      danger: true,
      fields: [{ name: "password", label: "临时密码（留空则由系统生成）", placeholder: "至少 8 位" }],
      async run(v) {
        if (!confirmed(`确定重置「${u.display_name || u.username}」的密码？该用户需用新密码重新登录。`)) return;
        showPassword(await api<WithPassword>(`/api/users/${u.id}/password`, { method: "POST", json: { password: v.password || null, version: u.version } }), "已重置密码");
        await load();
      },
    });
    (reset.querySelector("[data-testid=reset-form-password]") as HTMLInputElement).type = "password";
    const roleScope = scopeControls();
    const change = actionForm("修改角色和范围", "role-toggle", {
      testid: "role-form",
      submit: "保存",
      fields: [
        { name: "role", label: "角色", required: true, control: roleScope.role },
        { name: "township_code", label: "所属乡镇", control: roleScope.township },
        { name: "department_id", label: "所属部门", control: roleScope.department },
      ],
      check: scopeProblem,
      async run(v) {
        if (!confirmed(`确定将「${u.display_name || u.username}」改为${label(USER_ROLE, v.role)}？角色变更后该用户需重新登录。`)) return;
        await api(`/api/users/${u.id}/role`, { method: "PUT", json: { ...scopeBody(v), version: u.version } });
        await load();
      },
    });
    roleScope.role.value = u.role;
    queueMicrotask(() => {
      roleScope.sync();
      roleScope.township.value = u.township_code ?? "";
      roleScope.department.value = u.department_id ? String(u.department_id) : "";
    });
    return h("article", {
      class: `item user-row${u.active ? "" : " inactive"}`, testid: `user-${u.id}`, "data-user-id": u.id,
      "data-username": u.username, "data-role": u.role, "data-active": u.active ? "1" : "0",
    },
    h("div", { class: "card-line" }, h("b", null, u.display_name || u.username), h("span", { class: "muted" }, u.username),
      h("span", { class: "badge", testid: "user-role" }, label(USER_ROLE, u.role)),
      h("span", { class: u.active ? "badge status-rated" : "badge status-invalid", testid: "user-state" }, u.active ? "启用" : "已停用")),
    h("div", { class: "small", testid: "user-scope" }, `范围：${scope}`),
    h("div", { class: "muted small" }, `创建于 ${fmtShort(u.created_at)}`),
    h("div", { class: "row user-actions" }, toggleActive, reset, change), err.el);
  }

  Promise.all([
    names("township").then((m) => (townships = [...m].map(([code, p]) => ({ value: code, label: `${p.name}（${code}）` })))),
    getDepartments().then((ds: Department[]) => (departments = ds.map((d) => ({ value: String(d.id), label: `${d.name}（${label(DEPARTMENT_KIND, d.kind)}）` })))),
  ]).catch((err) => msg.show(errorText(err), "error")).finally(() => {
    if (!ctx.alive()) return;
    addScope.sync();
    void load();
  });
}
