// Debian's headless Chromium driven by playwright-core, for the tests that need a real browser
// (the status page, the HTTP and WebSocket echo): launched on a throwaway profile, closed and
// removed by the test's cleanup.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why a browser test cannot run here, or false. */
export const CHROMIUM_SKIP: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is absent (apt-get install chromium); .ci/run installs it`;

/** A headless Chromium context; `t.after` closes it and removes its profile. */
export async function launchChromium(t: { after(fn: () => Promise<void> | void): void }): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'echod-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1200, height: 900 },
  });
  t.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  return context;
}
