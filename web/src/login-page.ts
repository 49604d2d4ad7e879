/** #/login: a bearer token field; the server sets an HttpOnly session cookie. The token is kept nowhere. */
import { login } from "./api-client.js";
import type { Session } from "./api-model.js";
import { h } from "./dom.js";
import type { Page } from "./page-context.js";

export interface LoginOptions {
  onSignedIn(session: Session): void;
  showError(error: unknown): void;
  clearError(): void;
}

export function mountLoginPage(root: HTMLElement, options: LoginOptions): Page {
  const token = h("input", {
    id: "login-token",
    type: "password",
    name: "token",
    autocomplete: "off",
    required: true,
    spellcheck: "false",
    "data-testid": "login-token",
  });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "login-submit" }, "Sign in");
  const form = h(
    "form",
    { class: "panel login", "aria-labelledby": "login-title" },
    h("h1", { id: "login-title" }, "Sign in to the sanpath console"),
    h("label", { for: "login-token" }, "Access token"),
    token,
    h(
      "p",
      { class: "muted" },
      "The bearer token of a sanpath operator. It is sent once; the console then keeps a session cookie.",
    ),
    h("div", { class: "actions" }, submit),
  );
  let disposed = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = token.value.trim();
    if (value === "") return;
    submit.disabled = true;
    options.clearError();
    login(value).then(
      (session) => {
        token.value = "";
        if (!disposed) options.onSignedIn(session);
      },
      (error: unknown) => {
        submit.disabled = false;
        token.select();
        if (!disposed) options.showError(error);
      },
    );
  });
  root.replaceChildren(form);
  token.focus();
  return {
    dispose() {
      disposed = true;
      token.value = "";
    },
  };
}
