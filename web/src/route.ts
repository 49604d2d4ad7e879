/** Hash routes of the console: #/login, #/overview, #/paths, #/jobs, #/jobs/<id>, #/events. */

export type Route =
  | { page: "login" }
  | { page: "overview" }
  | { page: "paths" }
  | { page: "jobs" }
  | { page: "job"; id: string }
  | { page: "events" };

export const DEFAULT_ROUTE: Route = { page: "overview" };

/** The route of a location hash; an empty or unknown hash is the overview. */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/^\/+/, "").replace(/\/+$/, "");
  const [head = "", ...rest] = path.split("/");
  switch (head) {
    case "login":
      return { page: "login" };
    case "paths":
      return { page: "paths" };
    case "events":
      return { page: "events" };
    case "jobs": {
      const id = rest.join("/");
      if (id === "") return { page: "jobs" };
      return { page: "job", id: safeDecode(id) };
    }
    default:
      return DEFAULT_ROUTE;
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export function routeHash(route: Route): string {
  switch (route.page) {
    case "job":
      return `#/jobs/${encodeURIComponent(route.id)}`;
    default:
      return `#/${route.page}`;
  }
}

/** The nav entry a route belongs to (a job view is under "jobs"). */
export function navSection(route: Route): string {
  return route.page === "job" ? "jobs" : route.page;
}
