/** The console's entry point: session, hash routing, and the page for each route. */
import { ApiError, fetchSession, logout } from "./api-client.js";
import type { Session } from "./api-model.js";
import { createAppShell } from "./app-shell.js";
import { h } from "./dom.js";
import { createErrorBanner } from "./error-banner.js";
import { mountEventsPage } from "./events-page.js";
import { mountJobPage } from "./job-page.js";
import { mountJobsPage } from "./jobs-page.js";
import { LiveEvents } from "./live-events.js";
import { mountLoginPage } from "./login-page.js";
import { mountOverviewPage } from "./overview-page.js";
import type { Page, PageContext } from "./page-context.js";
import { mountPathsPage } from "./paths-page.js";
import { DEFAULT_ROUTE, navSection, parseRoute, routeHash, type Route } from "./route.js";

const banner = createErrorBanner();
const shell = createAppShell(document.body, banner, () => void signOut());
let session: Session | undefined;
let page: Page | undefined;
/** Where to go after signing in (the route that needed a session). */
let afterLogin: Route = DEFAULT_ROUTE;
/** An error to show on the next page (a route change clears the banner). */
let carriedError: unknown;

const live = new LiveEvents(
  () => sessionEnded(new ApiError(401, "UNAUTHENTICATED", "the session ended: sign in again")),
  (error) => showError(new ApiError(0, error.code, error.message)),
);
live.onStateChange((state) => shell.setLiveState(state));

function showError(error: unknown): void {
  if (error instanceof ApiError && error.unauthenticated && session !== undefined) {
    sessionEnded(error);
    return;
  }
  banner.show(error);
}

function navigate(route: Route): void {
  const hash = routeHash(route);
  if (location.hash === hash) render();
  else location.hash = hash;
}

function signedIn(next: Session): void {
  session = next;
  shell.setSession(next);
  live.start();
  navigate(afterLogin);
}

/** The session is gone (signed out, expired or revoked): back to the login page. */
function sessionEnded(reason?: unknown): void {
  if (session !== undefined) afterLogin = parseRoute(location.hash);
  carriedError = reason;
  session = undefined;
  live.stop();
  shell.setSession(undefined);
  navigate({ page: "login" });
}

async function signOut(): Promise<void> {
  try {
    await logout();
  } catch (error) {
    banner.show(error);
  }
  sessionEnded();
  afterLogin = DEFAULT_ROUTE;
}

function render(): void {
  const route = parseRoute(location.hash);
  page?.dispose();
  page = undefined;
  banner.clear();
  if (carriedError !== undefined) {
    banner.show(carriedError);
    carriedError = undefined;
  }
  if (session === undefined) {
    if (route.page !== "login") {
      afterLogin = route;
      navigate({ page: "login" });
      return;
    }
    shell.setSection("login");
    page = mountLoginPage(shell.main, {
      onSignedIn: signedIn,
      showError: (error) => banner.show(error),
      clearError: () => banner.clear(),
    });
    // A client certificate or a server without authentication needs no token.
    fetchSession().then(
      (existing) => {
        if (existing !== undefined && session === undefined) signedIn(existing);
      },
      (error: unknown) => banner.show(error),
    );
    return;
  }
  if (route.page === "login") {
    navigate(DEFAULT_ROUTE);
    return;
  }
  shell.setSection(navSection(route));
  const context: PageContext = {
    session,
    root: shell.main,
    live,
    showError,
    clearError: () => banner.clear(),
    navigate,
  };
  switch (route.page) {
    case "overview":
      page = mountOverviewPage(context);
      break;
    case "paths":
      page = mountPathsPage(context);
      break;
    case "jobs":
      page = mountJobsPage(context);
      break;
    case "job":
      page = mountJobPage(context, route.id);
      break;
    case "events":
      page = mountEventsPage(context);
      break;
  }
}

async function start(): Promise<void> {
  shell.main.replaceChildren(h("p", { class: "muted" }, "connecting…"));
  try {
    const existing = await fetchSession();
    if (existing !== undefined) {
      session = existing;
      shell.setSession(existing);
      live.start();
    }
  } catch (error) {
    banner.show(error);
  }
  window.addEventListener("hashchange", render);
  render();
}

void start();
