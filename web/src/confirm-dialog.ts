/** A modal confirmation (a <dialog>): resolves true when the user confirms. */
import { button, h, type Child } from "./dom.js";

export interface ConfirmOptions {
  title: string;
  body: Child;
  confirmLabel: string;
  /** Style the confirm button as dangerous. */
  danger?: boolean;
}

export function confirmAction(options: ConfirmOptions): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "confirm", "aria-labelledby": "confirm-title" });
    const finish = (answer: boolean): void => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.append(
      h("h2", { id: "confirm-title" }, options.title),
      h("div", { class: "confirm-body" }, options.body),
      h(
        "div",
        { class: "actions" },
        button("Cancel", () => finish(false)),
        button(options.confirmLabel, () => finish(true), {
          class: options.danger === true ? "primary danger" : "primary",
          "data-action": "confirm",
        }),
      ),
    );
    // Escape closes the dialog: that is a no.
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}
