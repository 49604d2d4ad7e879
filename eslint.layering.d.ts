import type { Linter } from "eslint";

/** The import rules of docs/ARCHITECTURE.md (eslint.layering.js). */
export declare const layering: Linter.Config[];
