/** What every page gets from the console shell, and what it gives back. */
import type { Session } from "./api-model.js";
import type { LiveEvents } from "./live-events.js";
import type { Route } from "./route.js";

export interface PageContext {
  session: Session;
  /** The page's region; the page owns its children. */
  root: HTMLElement;
  live: LiveEvents;
  /** Shows an error in the banner (a 401 signs out and shows the login page instead). */
  showError(error: unknown): void;
  clearError(): void;
  navigate(route: Route): void;
}

/** A mounted page; dispose stops its streams and timers when the route changes. */
export interface Page {
  dispose(): void;
}

export type PageFactory = (context: PageContext) => Page;
