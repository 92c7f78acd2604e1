// A client that half-closes (sends FIN, keeps reading) gets everything it sent echoed, its
// unterminated last line included, and then the server closes too: reason client_closed.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Fixture } from '../../testkit/clients.js';
import { poll } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 10_000;

describe('client half-close', () => {
  let fixture: Fixture | undefined;
  afterEach(() => fixture?.cleanup());

  it('echoes the pending lines and the unterminated tail, then closes: client_closed', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const client = await fixture.connect();
    const input = 'first\nsecond\nno newline at the end';
    await client.write(input);
    client.end();
    assert.equal((await client.readToEnd()).toString(), input);
    const [summary] = await fixture.events.closed(1);
    assert.equal(summary?.reason, 'client_closed');
    assert.equal(summary?.forced, false);
    assert.equal(summary?.bytesReceived, input.length);
    assert.equal(summary?.bytesSent, input.length);
    assert.equal(summary?.lines, 2, 'the tail is echoed but is not a line');
    await client.waitClosed();
    assert.equal(fixture.server.stats.connections.active, 0);
  });

  it('a tail that arrived in several packets comes back whole', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const { server } = fixture;
    const client = await fixture.connect();
    let sent = 0;
    for (const piece of ['ab\npar', 'tial ', 'tail']) {
      await client.write(piece);
      sent += piece.length;
      await poll(() => server.stats.bytesReceived === sent, 2000, `the server to read ${sent} bytes`);
    }
    client.end();
    assert.equal((await client.readToEnd()).toString(), 'ab\npartial tail');
  });

  it('with nothing pending, the server closes at once with nothing more to say', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const client = await fixture.connect();
    await client.write('done\n');
    assert.equal(await client.readText('done\n'), 'done\n');
    client.end();
    assert.equal((await client.readToEnd()).length, 0);
    const [summary] = await fixture.events.closed(1);
    assert.equal(summary?.reason, 'client_closed');
  });

  it('a half-close right after a large burst still gets every byte back', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const client = await fixture.connect();
    const lines = Array.from({ length: 16_384 }, (_, i) => `${String(i).padStart(8, '0')}${'.'.repeat(55)}\n`).join('');
    const input = Buffer.from(`${lines}and a tail`);
    await client.write(input);
    client.end();
    const echoed = await client.readToEnd();
    assert.equal(echoed.length, input.length);
    assert.ok(echoed.equals(input), 'the echo differs from the input');
    const [summary] = await fixture.events.closed(1);
    assert.equal(summary?.reason, 'client_closed');
  });
});
