// The echo itself over real sockets: every line comes back byte-exact and in order, whatever
// the packet boundaries, and only once it is complete (line mode) or at once (raw mode).
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Fixture } from '../../testkit/clients.js';
import { poll } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 10_000;

describe('echo', () => {
  let fixture: Fixture | undefined;
  afterEach(() => fixture?.cleanup());

  it('pipelined lines, written without waiting for their echo, come back in order', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const client = await fixture.connect();
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i} ${'#'.repeat(i % 17)}\n`);
    const writes = lines.map((line) => client.write(line));
    const echoed = await client.read(Buffer.byteLength(lines.join('')));
    await Promise.all(writes);
    assert.equal(echoed.toString(), lines.join(''));
  });

  it('a line split across packets is echoed once, when its newline arrives', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const { server } = fixture;
    const client = await fixture.connect();
    // Each piece is seen by the server on its own before the next is sent.
    await client.write('hel');
    await poll(() => server.stats.bytesReceived === 3, 2000, 'the server to read "hel"');
    assert.equal(server.stats.bytesSent, 0, 'nothing is echoed before the newline');

    await client.write('lo\nwor');
    await poll(() => server.stats.bytesReceived === 9, 2000, 'the server to read "lo\\nwor"');
    assert.equal(await client.readText('hello\n'), 'hello\n');
    assert.equal(server.stats.bytesSent, 6, 'only the complete line is echoed');

    await client.write('ld\n');
    assert.equal(await client.readText('world\n'), 'world\n');
    assert.equal(server.stats.lines, 2);
    assert.equal(client.pendingBytes, 0, 'nothing more than the two lines came back');
  });

  it('bytes written one at a time still echo exact', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const client = await fixture.connect();
    const input = Buffer.from('ab\r\nc\x00d\n\n');
    for (const byte of input) await client.write(Buffer.from([byte]));
    assert.deepEqual(await client.read(input.length), input);
  });

  it('CRLF, NUL, invalid UTF-8 and every other byte value come back byte-exact', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const client = await fixture.connect();
    const everyByte = Buffer.from(Array.from({ length: 256 }, (_, i) => i).filter((byte) => byte !== 0x0a));
    const input = Buffer.concat([
      Buffer.from('one\r\ntwo\r\n'),
      Buffer.from([0x00, 0x00, 0x0a]),
      Buffer.from([0xc3, 0x28, 0xff, 0xfe, 0x80, 0x0a]), // not UTF-8
      Buffer.from('\n\n'), // empty lines
      everyByte,
      Buffer.from([0x0d, 0x0a]),
    ]);
    await client.write(input);
    assert.deepEqual(await client.read(input.length), input);
  });

  it('many lines in one write come back exact, each one counted', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const client = await fixture.connect();
    const count = 20_000;
    const input = Buffer.from(Array.from({ length: count }, (_, i) => `${i}:${'x'.repeat(i % 50)}\n`).join(''));
    await client.write(input);
    assert.deepEqual(await client.read(input.length), input);
    assert.equal(fixture.server.stats.lines, count);
  });

  it('each client gets its own echo, never another client’s', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start();
    const first = await fixture.connect();
    const second = await fixture.connect();
    await Promise.all([first.write('from the first\n'), second.write('from the second\n')]);
    assert.equal(await first.readText('from the first\n'), 'from the first\n');
    assert.equal(await second.readText('from the second\n'), 'from the second\n');
  });

  it('serves IPv6 loopback the same way', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start({ host: '::1' });
    const client = await fixture.connect({ host: '::1' });
    await client.write('over IPv6\n');
    assert.equal(await client.readText('over IPv6\n'), 'over IPv6\n');
    client.end();
    await client.readToEnd();
    const [summary] = await fixture.events.closed(1);
    assert.equal(summary?.remoteAddress, '::1');
    assert.equal(fixture.server.address?.family, 'IPv6');
  });

  it('raw mode echoes bytes as they arrive, with no newline needed', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start({ mode: 'raw' });
    const client = await fixture.connect();
    await client.write('no newline here');
    assert.equal(await client.readText('no newline here'), 'no newline here');
    await client.write(Buffer.from([0x00, 0x0a, 0xff]));
    assert.deepEqual(await client.read(3), Buffer.from([0x00, 0x0a, 0xff]));
    assert.equal(fixture.server.stats.lines, 0, 'raw mode counts no lines');
  });
});
