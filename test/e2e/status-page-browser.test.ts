// The status page in a real browser: Debian's headless Chromium, driven by playwright-core,
// loads the page from a real echod (tcp ?proxy=optional and tls listeners) while this test
// drives known traffic, and checks what a person would see: counts, a connection's row, a close
// reason, the stopping and draining states after SIGTERM, that it keeps updating, that the
// console stays clean (CSP violations included) and that hostile SNI text stays text.
// ECHOD_SCREENSHOTS=1 also writes docs/status-page-{light,dark}.png.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { CHROMIUM_SKIP, launchChromium } from '../../testkit/chromium.js';
import { Client, HOST, WAIT_MS } from '../../testkit/clients.js';
import { type EchodProcess, echoes, reporting, startEchod } from '../../testkit/echod-process.js';
import { v1 } from '../../testkit/proxy-headers.js';
import { within } from '../../testkit/wait.js';

const HOSTILE = '<img src=x onerror=alert(1)>';
const DOCS = fileURLToPath(new URL('../../docs/', import.meta.url));
/** Browser start-up and first paint are slower than any loopback wait. */
const BROWSER_MS = 20_000;

// Page-side code is passed as strings: this project's TypeScript has no DOM types.

/** The text of every cell of `selector`'s body rows. */
function rows(page: Page, selector: string): Promise<string[][]> {
  return page.evaluate<string[][]>(
    `Array.from(document.querySelectorAll(${JSON.stringify(`${selector} tbody tr`)}), (tr) => Array.from(tr.children, (cell) => cell.textContent))`,
  );
}

/**
 * Waits until `expression` is true in the page. Passed as a function: a string predicate is
 * eval'd in the page, which the page's CSP (rightly) refuses.
 */
async function until(page: Page, expression: string, ms = WAIT_MS): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- test-side code shipped to the browser, never run here
  const predicate = new Function(`return (${expression});`) as () => boolean;
  await page.waitForFunction(predicate, null, { timeout: ms });
}

/** Waits for a status sample newer than the one shown now. */
async function nextSample(page: Page): Promise<void> {
  const seen = await page.evaluate<string>('document.body.dataset.generatedAt || ""');
  await until(page, `(document.body.dataset.generatedAt || "") > ${JSON.stringify(seen)}`);
}

function tlsClient(port: number, servername: string): Promise<TLSSocket> {
  const socket = tlsConnect({ host: HOST, port, servername, rejectUnauthorized: false });
  socket.on('error', () => {});
  return within(new Promise<TLSSocket>((resolve) => socket.once('secureConnect', () => resolve(socket))), WAIT_MS, 'TLS handshake');
}

describe('status page in headless Chromium', { skip: CHROMIUM_SKIP }, () => {
  const processes: EchodProcess[] = [];
  it(
    'shows live counts, connections, close reasons, a hostile SNI as text, and the drain after SIGTERM',
    { timeout: 120_000 },
    reporting(processes, async () => {
      const t = { after: (fn: () => Promise<void> | void) => cleanups.push(fn) };
      const cleanups: (() => Promise<void> | void)[] = [];
      try {
        const { echod, port, adminPort } = await startEchod(
          'node',
          [
            '--admin-port',
            '0',
            '--listen',
            `tcp://${HOST}:0?proxy=optional`,
            '--listen',
            `tls://${HOST}:0`,
            '--tls-self-signed',
            '--shutdown-delay',
            '4s',
            '--drain-timeout',
            '4s',
          ],
          (started) => processes.push(started),
        );
        const tlsPort = echod.all('listening')[1]?.port as number;
        assert.ok(adminPort !== undefined && tlsPort > 0);

        // Known traffic: a plain client, one behind a PROXY v1 header, one over TLS with a hostile SNI.
        const plain = await Client.connect(port);
        cleanups.push(() => plain.destroy());
        await echoes(plain, 'hello\n');
        const proxied = await Client.connect(port, { allowHalfOpen: true });
        cleanups.push(() => proxied.destroy());
        await proxied.write(v1('TCP4', '203.0.113.7', '198.51.100.1', 4242, 7));
        await echoes(proxied, 'behind a balancer\n');
        const secure = await tlsClient(tlsPort, HOSTILE);
        cleanups.push(() => {
          secure.destroy();
        });
        secure.write('over tls\n');

        const context = await launchChromium(t);
        const page = await context.newPage();
        const problems: string[] = [];
        page.on('console', (message) => {
          if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
        });
        page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
        page.on('dialog', (dialog) => {
          problems.push(`dialog: ${dialog.message()}`);
          void dialog.dismiss();
        });
        await page.goto(`http://${HOST}:${adminPort}/`);
        await until(
          page,
          "document.querySelectorAll('#open tbody tr').length === 3 && document.querySelectorAll('#listeners tbody tr').length === 2",
          BROWSER_MS,
        );

        // Identity, state, listeners.
        assert.equal(await page.textContent('#state'), 'listening · ready');
        const server = await page.textContent('#server');
        assert.match(server ?? '', /Version0\.1\.0/);
        assert.match(server ?? '', /Runtimenode v\d+/);
        const listeners = await rows(page, '#listeners');
        assert.match(listeners[0]?.[0] ?? '', /^tcp:\/\/127\.0\.0\.1:\d+/);
        assert.equal(listeners[0]?.[3], 'optional');
        assert.match(listeners[1]?.[4] ?? '', /TLSv1\.2\+, client cert none, self-signed/);
        await until(page, "document.querySelector('#connections').textContent.includes('Open now3')");

        // The open connections: the PROXY source, and the hostile SNI shown as text, no element made of it.
        const open = await rows(page, '#open');
        assert.ok(
          open.some((cells) => cells[2] === '203.0.113.7:4242'),
          `a row with the PROXY source: ${JSON.stringify(open)}`,
        );
        const tlsRow = open.find((cells) => cells[4]?.includes('SNI'));
        assert.ok(tlsRow?.[4]?.includes(`SNI ${HOSTILE}`), `the SNI as text: ${JSON.stringify(tlsRow)}`);
        assert.equal(
          await page.evaluate<number>("document.querySelectorAll('img').length"),
          0,
          'no <img> element was created from client text',
        );

        // A close reason appears; the page keeps updating (uptime ticks, new samples arrive).
        assert.match((await page.textContent('#closed')) ?? '', /client_closed0/);
        plain.end();
        await plain.waitClosed();
        await until(page, "/client_closed1/.test(document.querySelector('#closed').textContent)");
        await nextSample(page);
        await nextSample(page);
        assert.match((await page.getAttribute('#chart-bytes', 'aria-label')) ?? '', /^Bytes per second over the last/);
        assert.equal(await page.evaluate<number>("document.querySelectorAll('.chart canvas').length"), 3, 'three uPlot charts drawn');

        if (process.env.ECHOD_SCREENSHOTS === '1') {
          for (const colorScheme of ['light', 'dark'] as const) {
            await page.emulateMedia({ colorScheme });
            await nextSample(page);
            await page.screenshot({ path: join(DOCS, `status-page-${colorScheme}.png`), fullPage: true });
          }
        }

        // SIGTERM: stopping (readiness off, the countdown to closing the listeners), then draining.
        echod.signal('SIGTERM');
        await until(page, "document.querySelector('#state').textContent === 'stopping · not ready'");
        assert.match((await page.textContent('#countdown')) ?? '', /^stops accepting in \d+ s$/);
        assert.equal(await page.getAttribute('#state', 'role'), 'status', 'the state is announced');
        await until(page, "document.querySelector('#state').textContent === 'draining · not ready'", WAIT_MS * 2);
        assert.match((await page.textContent('#countdown')) ?? '', /^draining: connections still open are closed by force in \d+ s$/);
        assert.deepEqual(problems, [], 'no console errors, CSP violations or dialogs');
      } finally {
        for (const cleanup of cleanups.reverse()) await cleanup();
      }
    }),
  );
});
