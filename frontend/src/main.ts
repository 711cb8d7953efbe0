// The one-page app: hash routes, the top bar, and the page of the signed-in user's role.

import "./style.css";
import { api, getToken, getUser, saveUser, toLogin } from "./api";
import { h } from "./dom";
import { USER_ROLE } from "./labels";
import type { Page, PageCtx } from "./page";
import { adminReferencePage } from "./pages/admin-reference";
import { adminUsersPage } from "./pages/admin-users";
import { assessmentPage } from "./pages/assessment-entry";
import { knowsPermissions, mayOpen, PAGE_LABEL } from "./permissions";
import { countyPage } from "./pages/county";
import { departmentPage } from "./pages/department";
import { disputePage } from "./pages/dispute";
import { eventPage } from "./pages/event";
import { eventsPage } from "./pages/events";
import { listsPage } from "./pages/lists";
import { loginPage } from "./pages/login";
import { reportPage } from "./pages/report";
import { startOutbox, stopOutbox } from "./pages/offline";
import { staffingPage } from "./pages/staffing";
import { townshipPage } from "./pages/township";
import { verifyPage } from "./pages/verify";
import { workloadPage } from "./pages/workload-entry";
import { registerShellWorker } from "./shell";
import { tickCountdowns } from "./time";
import type { Role, User } from "./types";

const PAGES: Record<string, Page> = {
  report: reportPage,
  county: countyPage,
  department: departmentPage,
  township: townshipPage,
  verify: verifyPage,
  event: eventPage,
  dispute: disputePage,
  events: eventsPage,
  "admin/users": adminUsersPage,
  "admin/reference": adminReferencePage,
  lists: listsPage,
  staffing: staffingPage,
  workload: workloadPage,
  assessment: assessmentPage,
};

const HOME: Record<Role, string> = {
  grid_worker: "report",
  township_operator: "township",
  department_staff: "department",
  command_centre: "county",
  admin: "admin/users",
  staffing_office: "staffing",
};

// The links in the order each role reads them; a link shows only if the user may open it.
const NAV: Record<Role, [string, string][]> = {
  grid_worker: [["report", "事件上报"], ["verify", "现场核查"], ["township", "乡镇看板"], ["lists", "责任清单"]],
  township_operator: [["township", "乡镇看板"], ["verify", "现场核查"], ["report", "事件上报"], ["lists", "责任清单"], ["assessment", "考核"]],
  department_staff: [["department", "部门待办"], ["lists", "责任清单"], ["assessment", "考核"]],
  command_centre: [["county", "县指挥中心"], ["events", "事件列表"], ["report", "事件上报"], ["lists", "责任清单"], ["assessment", "考核"], ["workload", "编制评估"]],
  admin: [["admin/users", "用户管理"], ["admin/reference", "基础数据"], ["county", "县指挥中心"], ["events", "事件列表"], ["lists", "责任清单"], ["assessment", "考核"], ["workload", "编制评估"]],
  staffing_office: [["staffing", "清单审核"], ["workload", "编制评估"], ["assessment", "考核"], ["lists", "责任清单"], ["events", "事件列表"]],
};

const home = (user: User) => `#/${HOME[user.role] ?? "login"}`;
const app = document.getElementById("app") as HTMLElement;
let cleanups: (() => void)[] = [];
let generation = 0;
let refreshed = false;

function topBar(user: User, current: string): HTMLElement {
  const scope = user.township_name ?? user.department_name ?? "";
  return h("header", { class: "topbar", testid: "topbar" },
    h("a", { class: "brand", href: home(user) }, "四平台"),
    h("nav", null, (NAV[user.role] ?? []).filter(([name]) => mayOpen(user, name)).map(([name, text]) =>
      h("a", { href: `#/${name}`, class: name === current ? "on" : "", testid: `nav-${name.replace("/", "-")}` }, text))),
    h("span", { class: "who", testid: "whoami", "data-role": user.role },
      h("b", null, user.display_name || user.username), ` ${USER_ROLE[user.role] ?? user.role}`,
      scope && !(user.display_name ?? "").includes(scope) ? ` · ${scope}` : ""),
    h("a", { href: "#/login", class: "logout", testid: "logout", onclick: (ev: Event) => { ev.preventDefault(); toLogin(); } }, "退出"));
}

function route(): void {
  const gen = ++generation;
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch (err) {
      console.error(err);
    }
  }
  app.replaceChildren();
  const [first = "", second = null] = location.hash.replace(/^#\/?/, "").split("?")[0].split("/");
  // #/admin/{part} names a page of its own; elsewhere the second part is the page's parameter.
  const name = first === "admin" && second ? `admin/${second}` : first;
  const param = first === "admin" ? null : second;
  if (name === "login") {
    stopOutbox();
    loginPage(app, (user) => (location.hash = home(user)));
    return;
  }
  const user = getUser();
  if (!getToken() || !user) {
    location.hash = "#/login";
    return;
  }
  // Reports queued on this phone go whatever page is open (those who may report only).
  if ((NAV[user.role] ?? []).some(([n]) => n === "report")) startOutbox(user.username);
  const page = PAGES[name];
  if (!page || ((name === "event" || name === "dispute") && !/^\d+$/.test(param ?? ""))) {
    location.replace(home(user));
    return;
  }
  if (!knowsPermissions(user)) {
    // Stored by an older page: what the user may open comes from /api/auth/me; wait for it.
    refreshed = true;
    api<User>("/api/auth/me").then((fresh) => {
      saveUser(fresh);
      if (gen === generation) route();
    }).catch(() => undefined);
    return;
  }
  if (!refreshed) {
    // The stored user may be from an older server; the names of its scope come from /api/auth/me.
    refreshed = true;
    api<User>("/api/auth/me").then((fresh) => {
      saveUser(fresh);
      if (gen === generation) app.querySelector(".topbar")?.replaceWith(topBar(fresh, name));
    }).catch(() => undefined);
  }
  const main = h("main", { class: "content" });
  app.append(topBar(user, name), main);
  if (!mayOpen(user, name)) {
    // Said once, with nothing of the page under it: the page is not even started.
    main.append(h("div", { class: "banner banner-error", testid: "page-forbidden", role: "alert" },
      `${USER_ROLE[user.role] ?? "当前用户"}无权查看${PAGE_LABEL[name] ?? "该页面"}。`,
      h("a", { href: home(user), testid: "page-forbidden-home" }, "返回我的页面")));
    return;
  }
  const ctx: PageCtx = {
    root: main,
    user,
    param,
    onCleanup: (fn) => cleanups.push(fn),
    alive: () => gen === generation,
  };
  page(ctx);
}

registerShellWorker();
window.addEventListener("hashchange", route);
window.setInterval(() => tickCountdowns(app), 1000);
route();
