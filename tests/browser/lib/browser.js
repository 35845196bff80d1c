// Headless Debian Chromium through playwright-core (never a downloaded browser), with the flags
// a root user needs and its config/cache dirs in a temp dir.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { ROOT } from './nodes.js';

export const ARTIFACTS = join(ROOT, 'tests/artifacts');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export async function launch() {
  const dir = mkdtempSync(join(tmpdir(), 'ml-chromium-'));
  for (const sub of ['config', 'cache']) mkdirSync(join(dir, sub));
  process.env.XDG_CONFIG_HOME = join(dir, 'config');
  process.env.XDG_CACHE_HOME = join(dir, 'cache');
  const context = await chromium.launchPersistentContext(join(dir, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 1100 },
    // The TLS test serves the page and the P2P port with a self-signed certificate.
    ignoreHTTPSErrors: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    context,
    async newPage() {
      const page = await context.newPage();
      page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') console.error(`[page ${m.type()}] ${m.text()}`);
      });
      return page;
    },
    async close() {
      await context.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The page's metrics hook (see www/app.js) plus the light node's snapshot. */
export function pageState(page) {
  return page.evaluate(() => {
    const m = window.__miniledger;
    const n = m.node;
    return {
      apiMs: m.apiMs,
      startedMs: m.startedMs,
      firstPeerMs: m.firstPeerMs,
      firstVerifiedMs: m.firstVerifiedMs,
      blocksVerified: m.blocksVerified,
      blocksRejected: m.blocksRejected,
      txsVerified: m.txsVerified,
      rejected: m.rejected,
      longTasks: m.longTasks,
      errors: m.errors,
      height: n?.height ?? 0,
      target: n?.target ?? 0,
      tip: n?.tip ?? null,
      peers: n?.peers ?? [],
      validators: n?.validators ?? [],
    };
  });
}
