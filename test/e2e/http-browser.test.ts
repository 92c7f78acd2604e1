// echod's HTTP and WebSocket echo as a browser uses it: headless Chromium (playwright-core)
// navigates to an http listener (GET / answers the JSON document), then, from that page, fetch()
// POSTs a body and a raw binary body to the same origin, and a WebSocket sends a text and a
// binary message: every echo comes back as sent, with its opcode.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createEchoServer } from '../../src/index.js';
import type { EchoDocument } from '../../src/http/document.js';
import { CHROMIUM_SKIP, launchChromium } from '../../testkit/chromium.js';
import { HOST } from '../../testkit/clients.js';

/** Run in the page (as a string: this project's TypeScript has no DOM types). */
const IN_PAGE = `(async () => {
  const response = await fetch('/from-browser?x=1&x=2', { method: 'POST', body: 'héllo from chromium', headers: { 'content-type': 'text/plain;charset=UTF-8', 'x-from': 'chromium' } });
  const doc = await response.json();
  const rawResponse = await fetch('/echo', { method: 'POST', body: new Uint8Array([0, 1, 2, 13, 10, 255]), headers: { 'content-type': 'application/x-browser-bytes' } });
  const raw = Array.from(new Uint8Array(await rawResponse.arrayBuffer()));
  const ws = new WebSocket(location.origin.replace(/^http/, 'ws') + '/ws');
  ws.binaryType = 'arraybuffer';
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = () => reject(new Error('WebSocket failed')); });
  const messages = [];
  const both = new Promise((resolve) => { ws.onmessage = (event) => { messages.push(typeof event.data === 'string' ? { text: event.data } : { binary: Array.from(new Uint8Array(event.data)) }); if (messages.length === 2) resolve(); }; });
  ws.send('text ✓ from chromium');
  ws.send(new Uint8Array([0, 255, 10, 128]));
  await both;
  const closed = new Promise((resolve) => { ws.onclose = (event) => resolve(event.code); });
  ws.close(1000, 'done');
  return { doc, server: response.headers.get('x-echod-server'), raw, rawType: rawResponse.headers.get('content-type'), messages, closeCode: await closed };
})()`;

interface InPage {
  doc: EchoDocument;
  server: string | null;
  raw: number[];
  rawType: string | null;
  messages: ({ text: string } | { binary: number[] })[];
  closeCode: number;
}

describe('HTTP and WebSocket echo in headless Chromium', { skip: CHROMIUM_SKIP }, () => {
  it('GET / shows the JSON document; fetch and WebSocket from the page echo exactly', { timeout: 60_000 }, async (t) => {
    const server = createEchoServer({ serverId: 'browser-echo', listeners: [{ protocol: 'http', host: HOST, port: 0 }] });
    await server.listen();
    t.after(() => server.close());
    const port = (server.addresses[0] as AddressInfo).port;
    const context = await launchChromium(t);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const response = await page.goto(`http://${HOST}:${port}/`);
    assert.equal(response?.status(), 200);
    const shown = JSON.parse(await page.evaluate<string>('document.body.innerText')) as EchoDocument;
    assert.equal(shown.method, 'GET');
    assert.equal(shown.path, '/');
    assert.ok(
      shown.headers.some(([name, value]) => name.toLowerCase() === 'user-agent' && value.includes('HeadlessChrome')),
      JSON.stringify(shown.headers),
    );
    assert.equal(shown.server.id, 'browser-echo');

    const result = await page.evaluate<InPage>(IN_PAGE);
    assert.equal(result.server, 'browser-echo');
    assert.equal(result.doc.method, 'POST');
    assert.equal(result.doc.path, '/from-browser');
    assert.deepEqual(result.doc.query, { x: ['1', '2'] });
    assert.deepEqual(result.doc.body, { size: Buffer.byteLength('héllo from chromium'), encoding: 'utf8', data: 'héllo from chromium' });
    assert.ok(result.doc.headers.some(([name, value]) => name.toLowerCase() === 'x-from' && value === 'chromium'));
    assert.equal(result.doc.client.address, HOST);
    assert.deepEqual(result.raw, [0, 1, 2, 13, 10, 255]);
    assert.equal(result.rawType, 'application/x-browser-bytes');
    assert.deepEqual(result.messages, [{ text: 'text ✓ from chromium' }, { binary: [0, 255, 10, 128] }]);
    assert.equal(result.closeCode, 1000);
    assert.deepEqual(errors, []);
  });
});
