/**
 * A real browser for the dashboard tests: Debian's chromium, headless, driven by playwright-core (which downloads
 * nothing: it is pointed at /usr/bin/chromium). Each context gets a fresh profile directory; the browser and the
 * directory go in `t.after`, whatever the test's outcome. Pages are watched for console errors, uncaught
 * exceptions and Content-Security-Policy violations.
 */
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** The flags every test browser starts with: no sandbox (root in CI), no GPU, nothing that reaches the network. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Screenshots compare pixels: no colour management between the PNG and the page.
  '--force-color-profile=srgb',
];

/** Fails (never skips) when the browser is missing, saying what to install. */
export async function requireBrowser(): Promise<void> {
  try {
    await access(CHROMIUM);
  } catch {
    throw new Error(`${CHROMIUM} not found: install the Debian package chromium (./setup does)`);
  }
}

/** A headless browser with a fresh profile, closed and removed after the test. */
export async function openBrowser(t: TestContext, opts: { width?: number; height?: number } = {}): Promise<BrowserContext> {
  await requireBrowser();
  const profile = await mkdtemp(path.join(tmpdir(), 'umdev-chromium-'));
  const held: { ctx?: BrowserContext } = {};
  t.after(async () => {
    await held.ctx?.close().catch(() => undefined);
    await rm(profile, { recursive: true, force: true });
  });
  held.ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: opts.width ?? 1600, height: opts.height ?? 1000 },
    colorScheme: 'light',
  });
  return held.ctx;
}

/** A page whose problems (console errors, page errors, CSP violations) are collected in `problems`. */
export async function watchedPage(ctx: BrowserContext): Promise<{ page: Page; problems: string[] }> {
  const page = await ctx.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // Init scripts run outside the page's CSP, so this listener sees every violation the policy reports.
  await page.addInitScript({ content: "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));" });
  return { page, problems };
}
