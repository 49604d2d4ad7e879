/** The visible error banner: the server's error message, verbatim, until dismissed or replaced. */
import { ApiError } from "./api-client.js";
import { button, h, replaceChildren } from "./dom.js";

export interface ErrorBanner {
  readonly element: HTMLElement;
  show(error: unknown): void;
  clear(): void;
}

/** The code and message of anything thrown. */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof ApiError) return { code: error.code, message: error.message };
  if (error instanceof Error) return { code: "ERROR", message: error.message };
  return { code: "ERROR", message: String(error) };
}

export function createErrorBanner(): ErrorBanner {
  const element = h("div", {
    class: "error-banner",
    role: "alert",
    "data-testid": "error-banner",
    hidden: true,
  });
  const clear = (): void => {
    element.hidden = true;
    element.replaceChildren();
  };
  return {
    element,
    show(error) {
      const { code, message } = describeError(error);
      replaceChildren(
        element,
        h("span", { class: "error-code" }, code),
        h("span", { class: "error-message" }, message),
        button("Dismiss", clear, { class: "link-button", "aria-label": "dismiss the error" }),
      );
      element.hidden = false;
    },
    clear,
  };
}
