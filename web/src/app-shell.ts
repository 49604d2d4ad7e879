/** The console frame: header (brand, nav, live indicator, signed-in name and role, sign out), error banner, main. */
import type { Session } from "./api-model.js";
import { button, h, replaceChildren } from "./dom.js";
import type { ErrorBanner } from "./error-banner.js";
import type { LiveState } from "./live-events.js";

export interface AppShell {
  main: HTMLElement;
  setSession(session: Session | undefined): void;
  setSection(section: string): void;
  setLiveState(state: LiveState): void;
}

const SECTIONS: readonly (readonly [string, string])[] = [
  ["overview", "Overview"],
  ["paths", "Paths"],
  ["jobs", "Jobs"],
  ["events", "Events"],
];

const LIVE_TEXT: Readonly<Record<LiveState, string>> = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  stopped: "offline",
};

export function createAppShell(container: HTMLElement, banner: ErrorBanner, onSignOut: () => void): AppShell {
  const links = new Map<string, HTMLAnchorElement>();
  const nav = h("nav", { class: "nav", "aria-label": "console sections" });
  for (const [section, label] of SECTIONS) {
    const link = h("a", { href: `#/${section}` }, label);
    links.set(section, link);
    nav.append(link);
  }
  const live = h("span", {
    class: "live",
    "data-testid": "live-indicator",
    "data-state": "stopped",
    role: "status",
    title: "live updates from the cluster's event stream",
  });
  const who = h("div", { class: "who" });
  const header = h(
    "header",
    { class: "top" },
    h("a", { class: "brand", href: "#/overview" }, "sanpath"),
    nav,
    h("div", { class: "spacer" }),
    live,
    who,
  );
  const main = h("main", { id: "main" });
  container.replaceChildren(header, banner.element, main);

  const shell: AppShell = {
    main,
    setSession(session) {
      nav.hidden = session === undefined;
      live.hidden = session === undefined;
      if (session === undefined) {
        who.replaceChildren();
        return;
      }
      replaceChildren(
        who,
        h("span", { class: "session-name", "data-testid": "session-name" }, session.name),
        h("span", { class: "badge role", "data-testid": "session-role" }, session.role),
        button("Sign out", onSignOut, { class: "link-button" }),
      );
    },
    setSection(section) {
      for (const [name, link] of links) {
        if (name === section) link.setAttribute("aria-current", "page");
        else link.removeAttribute("aria-current");
      }
    },
    setLiveState(state) {
      live.dataset["state"] = state;
      live.textContent = LIVE_TEXT[state];
    },
  };
  shell.setSession(undefined);
  return shell;
}
