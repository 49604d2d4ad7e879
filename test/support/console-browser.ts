/**
 * Headless Debian chromium driven by playwright-core, for the web console's browser tests and the
 * screenshot script. TLS errors are accepted (the dev cluster's own CA); every browser is closed
 * by the caller.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: bash deploy/install-deps.sh installs Debian's chromium`);
  }
  // --no-sandbox: the tests run as root, where chromium's sandbox cannot start.
  return chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
}

export interface ConsoleContextOptions {
  /** A client certificate the browser presents (signs its holder in without a token). */
  readonly clientCertificate?: { readonly origin: string; readonly cert: string; readonly key: string };
}

export async function consoleContext(
  browser: Browser,
  options: ConsoleContextOptions = {},
): Promise<BrowserContext> {
  const certificate = options.clientCertificate;
  return browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1280, height: 800 },
    ...(certificate === undefined
      ? {}
      : {
          clientCertificates: [
            { origin: certificate.origin, certPath: certificate.cert, keyPath: certificate.key },
          ],
        }),
  });
}

/** Script errors and CSP violations the page reported (a resource's 401/404 is not one). */
export function pageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    const text = message.text();
    if (message.type() === "error" && !text.startsWith("Failed to load resource")) problems.push(text);
  });
  return problems;
}

/** Signs in through the login page with a token. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(url);
  await page.getByTestId("login-token").fill(token);
  await page.getByTestId("login-submit").click();
  await page.getByTestId("session-name").waitFor();
}

/**
 * Saves a screenshot of the page as <dir>/console-<name>.png when $SANPATH_CONSOLE_SCREENSHOTS
 * names a folder (npm run console:screenshots sets docs/); otherwise does nothing.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.SANPATH_CONSOLE_SCREENSHOTS;
  if (dir === undefined || dir === "") return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `console-${name}.png`), fullPage: false });
}
