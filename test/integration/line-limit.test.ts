// maxLineBytes over real sockets: the complete lines before a too-long line are echoed, the
// too-long line and everything after it are not, and the connection is closed: line_too_long.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Fixture } from '../../testkit/clients.js';
import { poll } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 10_000;
/** Small, so a test line can break it; counts the newline. */
const MAX_LINE_BYTES = 16;

describe('line limit', () => {
  let fixture: Fixture | undefined;
  afterEach(() => fixture?.cleanup());

  it('echoes the lines before a too-long line, then closes: line_too_long', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start({ maxLineBytes: MAX_LINE_BYTES });
    const client = await fixture.connect();
    await client.write(`ok\nfine as well\n${'x'.repeat(40)}\nnever echoed\n`);
    assert.equal((await client.readToEnd()).toString(), 'ok\nfine as well\n');
    const [summary] = await fixture.events.closed(1);
    assert.equal(summary?.reason, 'line_too_long');
    assert.equal(summary?.lines, 2);
    assert.equal(fixture.server.stats.connections.closed.line_too_long, 1);
  });

  it(
    'a line of exactly maxLineBytes, newline included, is echoed and the connection stays open',
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      fixture = await Fixture.start({ maxLineBytes: MAX_LINE_BYTES });
      const client = await fixture.connect();
      const longest = `${'a'.repeat(MAX_LINE_BYTES - 1)}\n`;
      await client.write(longest);
      assert.equal(await client.readText(longest), longest);
      await client.write('next\n');
      assert.equal(await client.readText('next\n'), 'next\n');
      assert.equal(fixture.events.closes.length, 0);
    },
  );

  it('one byte more, arriving in pieces, is too long', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start({ maxLineBytes: MAX_LINE_BYTES });
    const { server } = fixture;
    const client = await fixture.connect();
    await client.write(`ok\n${'b'.repeat(8)}`);
    await poll(() => server.stats.bytesReceived === 11, 2000, 'the first piece');
    await client.write(`${'b'.repeat(MAX_LINE_BYTES - 8)}\n`);
    assert.equal((await client.readToEnd()).toString(), 'ok\n');
    const [summary] = await fixture.events.closed(1);
    assert.equal(summary?.reason, 'line_too_long');
  });

  it('a long line with no newline at all is refused without waiting for one', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start({ maxLineBytes: MAX_LINE_BYTES });
    const client = await fixture.connect();
    // The client does not end: the server must decide on the bytes alone.
    await client.write(`short\n${'y'.repeat(MAX_LINE_BYTES)}`);
    assert.equal((await client.readToEnd()).toString(), 'short\n');
    const [summary] = await fixture.events.closed(1);
    assert.equal(summary?.reason, 'line_too_long');
    assert.equal(summary?.forced, false);
  });

  it('other connections are unaffected by one client’s too-long line', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start({ maxLineBytes: MAX_LINE_BYTES });
    const bystander = await fixture.connect();
    const offender = await fixture.connect();
    await offender.write(`${'z'.repeat(100)}\n`);
    assert.equal((await offender.readToEnd()).length, 0);
    await fixture.events.closed(1);
    await bystander.write('still fine\n');
    assert.equal(await bystander.readText('still fine\n'), 'still fine\n');
    assert.equal(fixture.server.stats.connections.active, 1);
  });
});
