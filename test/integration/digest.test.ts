// `--digest`: CRC32C against the known answers of RFC 3720 (B.4) and a bit-at-a-time
// reference, incremental equal to one-shot, SHA-256 equal to node:crypto; then through a real
// server on loopback: the digests in a connection's close summary equal the ones the client
// computes itself over every byte it sent and every byte it received (banner included).
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import fc from 'fast-check';
import { crc32c, StreamDigest } from '../../src/core/digest.js';
import type { EchoServerOptions } from '../../src/config/options.js';
import { type Client, Fixture, HOST } from '../../testkit/clients.js';
import { crc32cReference, digestHex } from '../../testkit/digests.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';

const TEST_TIMEOUT_MS = 10_000;

describe('crc32c', () => {
  it('gives the known answers of RFC 3720 appendix B.4 and the usual check value', { timeout: TEST_TIMEOUT_MS }, () => {
    const increasing = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
    const decreasing = Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i));
    assert.equal(crc32c(Buffer.alloc(32, 0x00)), 0x8a9136aa, '32 bytes of zeros');
    assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43, '32 bytes of 0xff');
    assert.equal(crc32c(increasing), 0x46dd794e, '32 increasing bytes');
    assert.equal(crc32c(decreasing), 0x113fdb5c, '32 decreasing bytes');
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283, 'the check value');
    assert.equal(crc32c(Buffer.alloc(0)), 0, 'nothing');
  });

  it('property: equals the bit-at-a-time definition for any bytes, at every length and alignment', { timeout: TEST_TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat({ max: 7 }), (bytes, offset) => {
        // A view that starts mid-buffer exercises the 8-byte loop at every alignment.
        const backing = new Uint8Array(bytes.length + offset);
        backing.set(bytes, offset);
        const view = backing.subarray(offset);
        assert.equal(crc32c(view), crc32cReference(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it('property: continuing over the pieces equals one pass over the whole', { timeout: TEST_TIMEOUT_MS }, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, rawCuts) => {
        const cuts = [...new Set(rawCuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
        let crc = 0;
        let start = 0;
        for (const cut of [...cuts, bytes.length]) {
          crc = crc32c(bytes.subarray(start, cut), crc);
          start = cut;
        }
        assert.equal(crc, crc32c(bytes));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('StreamDigest', () => {
  it(
    'property: crc32c and sha256 over chunks equal one-shot digests (sha256 as node:crypto makes it)',
    { timeout: TEST_TIMEOUT_MS },
    () => {
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 8 }), (chunks) => {
          const whole = Buffer.concat(chunks);
          const crc = new StreamDigest('crc32c');
          const sha = new StreamDigest('sha256');
          for (const chunk of chunks) {
            crc.update(chunk);
            sha.update(chunk);
          }
          assert.equal(crc.hex(), crc32cReference(whole).toString(16).padStart(8, '0'));
          assert.equal(sha.hex(), createHash('sha256').update(whole).digest('hex'));
        }),
        { numRuns: 300 },
      );
    },
  );

  it('reports 8 hex digits or 64, names its algorithm, and reading it mid-stream does not end it', { timeout: TEST_TIMEOUT_MS }, () => {
    const crc = new StreamDigest('crc32c');
    const sha = new StreamDigest('sha256');
    assert.equal(crc.hex(), '00000000', 'crc32c of nothing, zero-padded');
    assert.equal(sha.hex(), createHash('sha256').digest('hex'));
    assert.equal(crc.algorithm, 'crc32c');
    assert.equal(sha.algorithm, 'sha256');
    crc.update(Buffer.from('12345'));
    sha.update(Buffer.from('12345'));
    assert.equal(crc.hex(), crc.hex(), 'asking twice gives the same answer');
    assert.equal(sha.hex(), sha.hex());
    crc.update(Buffer.from('6789'));
    sha.update(Buffer.from('6789'));
    assert.equal(crc.hex(), 'e3069283');
    assert.equal(sha.hex(), createHash('sha256').update('123456789').digest('hex'));
    assert.match(sha.hex(), /^[0-9a-f]{64}$/);
  });
});

describe('digests through the server', () => {
  let fixture: Fixture | undefined;
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  /** Binary lines (every byte value but the newline), sent in several writes, then a tail and a half-close. */
  function payload(): Buffer[] {
    const line = (size: number): Buffer => {
      const bytes = randomBytes(size).map((byte) => (byte === 0x0a ? 0x0b : byte));
      return Buffer.concat([bytes, Buffer.from('\n')]);
    };
    return [line(1), line(100), Buffer.concat([line(5000), line(70_000)]), Buffer.from('\0\r\n'), Buffer.from('tail, no newline')];
  }

  /** Writes every piece, half-closes, and returns what was sent and everything received up to EOF. */
  async function exchange(client: Client): Promise<{ sent: Buffer; received: Buffer }> {
    const pieces = payload();
    for (const piece of pieces) await client.write(piece);
    client.end();
    return { sent: Buffer.concat(pieces), received: await client.readToEnd() };
  }

  const cases: {
    name: string;
    options: EchoServerOptions;
    algorithm: 'crc32c' | 'sha256';
    banner?: (id: number) => string;
    prefix?: string;
  }[] = [
    { name: 'crc32c', options: { digest: 'crc32c' }, algorithm: 'crc32c' },
    { name: 'sha256', options: { digest: 'sha256' }, algorithm: 'sha256' },
    {
      name: 'crc32c with a banner',
      options: { digest: 'crc32c', banner: 'hello {conn_id}' },
      algorithm: 'crc32c',
      banner: (id) => `hello ${id}\n`,
    },
    {
      name: 'sha256 with a banner and a prefix',
      options: { digest: 'sha256', banner: 'hi\\n', prefix: '[{conn_id}] ' },
      algorithm: 'sha256',
      banner: () => 'hi\n',
      prefix: '[{conn_id}] ',
    },
  ];

  for (const { name, options, algorithm, banner, prefix } of cases) {
    it(
      `${name}: the close summary's digests equal the client's own over what it sent and what it received`,
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        fixture = await Fixture.start(options);
        const client = await fixture.connect();
        const id = fixture.events.opened[0] as number;
        const { sent, received } = await exchange(client);

        // What came back is what the server should have sent: banner, then (prefixed) echo.
        const prefixText = prefix?.replace('{conn_id}', String(id)) ?? '';
        const echoed = prefixText === '' ? sent : prefixEveryLine(sent, Buffer.from(prefixText));
        assert.ok(received.equals(Buffer.concat([Buffer.from(banner?.(id) ?? ''), echoed])), 'the client received the banner and the echo');

        const [summary] = await fixture.events.closed(1);
        assert.ok(summary !== undefined);
        assert.equal(summary.bytesReceived, sent.length);
        assert.equal(summary.bytesSent, received.length);
        assert.deepEqual(summary.digest, { algorithm, received: digestHex(algorithm, sent), sent: digestHex(algorithm, received) });
      },
    );
  }

  it('the digest is in the `connection closed` log line; without --digest there is none', { timeout: TEST_TIMEOUT_MS }, async () => {
    const logger = new RecordingLogger();
    fixture = await Fixture.start({ digest: 'crc32c', logger });
    const client = await fixture.connect();
    await client.write('one\n');
    client.end();
    assert.equal((await client.readToEnd()).toString(), 'one\n');
    const line = await logger.next('connection closed');
    const expected = digestHex('crc32c', Buffer.from('one\n'));
    assert.deepEqual(line.fields.digest, { algorithm: 'crc32c', received: expected, sent: expected });
    await fixture.cleanup();

    fixture = await Fixture.start();
    const plain = await fixture.connect();
    await plain.write('one\n');
    plain.end();
    assert.equal((await plain.readToEnd()).toString(), 'one\n');
    const [summary] = await fixture.events.closed(1);
    assert.equal(summary?.digest, null);
  });

  it('output faults do not change the digest: chunked writes digest like one', { timeout: TEST_TIMEOUT_MS }, async () => {
    fixture = await Fixture.start({ digest: 'sha256', listeners: [{ protocol: 'tcp', host: HOST, port: 0, faults: { chunkBytes: 7 } }] });
    const client = await fixture.connect();
    const data = Buffer.from('a line echoed seven bytes at a time\nand another one\n');
    await client.write(data);
    assert.ok((await client.read(data.length)).equals(data));
    client.end();
    assert.equal((await client.readToEnd()).length, 0);
    const [summary] = await fixture.events.closed(1);
    const expected = digestHex('sha256', data);
    assert.deepEqual(summary?.digest, { algorithm: 'sha256', received: expected, sent: expected });
  });
});

/** The expected `--prefix` output, written independently of src/core/framing.ts. */
function prefixEveryLine(data: Buffer, prefix: Buffer): Buffer {
  const text = data.toString('latin1');
  const lines = text.split(/(?<=\n)/);
  return Buffer.from(lines.map((line) => prefix.toString('latin1') + line).join(''), 'latin1');
}
