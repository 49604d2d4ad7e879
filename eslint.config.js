// @ts-check
import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import tseslint from "typescript-eslint";
import { layering } from "./eslint.layering.js";

export default tseslint.config(
  {
    ignores: ["dist/", "src/gen/", "node_modules/", "native/build/", ".tools/", "coverage/"],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allowNumber: true, allowBoolean: true, allowNullish: true },
      ],
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-extraneous-class": "off",
      "@typescript-eslint/no-confusing-void-expression": "off",
      "@typescript-eslint/no-unnecessary-condition": ["error", { allowConstantLoopConditions: true }],
    },
  },
  ...layering,
  {
    // The browser console (web/src, compiled by web/tsconfig.json with the DOM and without Node
    // types): it reaches the server over HTTP only, builds the DOM without HTML strings, and keeps
    // no secret in the browser (the session is an HttpOnly cookie).
    files: ["web/src/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["node:*"], message: "web/src runs in the browser" },
            { group: ["**/src/*", "../*"], message: "web/src talks to the server over /api only" },
          ],
        },
      ],
      "no-restricted-properties": [
        "error",
        ...["innerHTML", "outerHTML", "insertAdjacentHTML"].map((property) => ({
          property,
          message: "build elements with dom.ts (no markup from strings)",
        })),
        { property: "style", message: "the CSP forbids inline styles: use a class from console.css" },
      ],
      "no-restricted-globals": [
        "error",
        ...["localStorage", "sessionStorage", "eval"].map((name) => ({
          name,
          message: "the console keeps nothing in the browser and runs under a strict CSP",
        })),
      ],
    },
  },
  {
    files: ["**/*.js"],
    extends: [tseslint.configs.disableTypeChecked],
  },
  prettier,
);
