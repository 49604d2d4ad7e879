/** What the signed-in role may do in the console (the server enforces it anyway). */
import type { Role } from "./api-model.js";

/** Rebalance, move, drain, cancel, cordon and uncordon: path-admin and admin. */
export function canManagePaths(role: Role): boolean {
  return role === "admin" || role === "path-admin";
}
