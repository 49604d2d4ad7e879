import { SanpathError } from "../errors/sanpath-error.js";

/** A required field is empty or unset (INVALID_ARGUMENT, DATA_MISSING). */
export function dataMissing(field: string, what: string): SanpathError {
  return new SanpathError("invalid_argument", `${field}: ${what} is required`, {
    reason: "DATA_MISSING",
    field,
  });
}

/** Fields that contradict each other (INVALID_ARGUMENT, WRONG_DATA). */
export function wrongData(field: string, rule: string): SanpathError {
  return new SanpathError("invalid_argument", `${field}: ${rule}`, { reason: "WRONG_DATA", field });
}

/** A manual address outside the subnet it must belong to (INVALID_ARGUMENT, WRONG_SUBNET). */
export function wrongSubnet(field: string, rule: string): SanpathError {
  return new SanpathError("invalid_argument", `${field}: ${rule}`, { reason: "WRONG_SUBNET", field });
}
