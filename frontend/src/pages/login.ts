// 登录: username and password; the server's Chinese message on failure.

import { ApiError, api, errorText, getConfig, saveSession } from "../api";
import { h } from "../dom";
import type { Token, User } from "../types";
import { note } from "../ui";

export function loginPage(root: HTMLElement, landed: (user: User) => void): void {
  const username = h("input", { name: "username", testid: "login-username", autocomplete: "username", autocapitalize: "off", required: true });
  const password = h("input", { name: "password", type: "password", testid: "login-password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", class: "btn btn-primary btn-block", testid: "login-submit" }, "登录");
  const msg = note("login-error");
  const form = h("form", { class: "login-form", testid: "login-form", novalidate: true },
    h("h1", null, "四平台 · 登录"),
    h("p", { class: "muted" }, "基层治理事件上报与分拨"),
    h("label", { class: "field" }, h("span", null, "用户名"), username),
    h("label", { class: "field" }, h("span", null, "密码"), password),
    msg.el, button);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!username.value.trim() || !password.value) {
      msg.show("请输入用户名和密码", "error");
      return;
    }
    button.disabled = true;
    msg.clear();
    try {
      const body = new URLSearchParams({ username: username.value.trim(), password: password.value });
      const res = await api<Token>("/api/auth/token", { method: "POST", body, auth: false });
      saveSession(res.access_token, res.user);
      landed(res.user);
    } catch (err) {
      msg.show(lockedOut(err) ?? errorText(err), "error");
      password.select();
    } finally {
      button.disabled = false;
    }
  });
  root.append(h("div", { class: "page page-login" }, form));
  username.focus();
  // Demo mode: six users whose password is in the README. Say so before anyone signs in.
  getConfig().then((cfg) => {
    if (cfg.demo) {
      form.prepend(h("p", { class: "demo-warning", role: "alert", testid: "demo-warning" },
        "演示模式：演示账号的密码是公开的，切勿用于真实数据"));
    }
  }).catch(() => undefined);
}

/** After repeated failures the server locks sign-in for a while (429): say for how long. */
function lockedOut(err: unknown): string | null {
  if (!(err instanceof ApiError) || err.status !== 429) return null;
  const seconds = /(\d+)\s*秒/.exec(err.message)?.[1];
  return `登录失败次数过多，已暂时锁定，${seconds ? `请 ${seconds} 秒后再试` : "请稍后再试"}`;
}
