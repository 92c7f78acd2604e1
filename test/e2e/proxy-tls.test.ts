// The PROXY protocol on tls listeners: a TCP load balancer (AWS NLB, haproxy send-proxy-v2)
// in front of a TLS-terminating echod sends the header in clear text before the ClientHello.
// The header's source becomes the client's address (the balancer is `via`), the handshake runs
// over whatever follows the header — also when the ClientHello shares the header's write, or
// the header comes byte by byte — and echo is byte-exact over TLS. `optional` and `required`,
// malformed and unfinished headers, mTLS, certificate reloads and backpressure behave as on
// the other listeners. The CLI cases run under Node and Bun; a last one puts a real haproxy
// and `openssl s_client` in front.
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { setImmediate as turn } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { ProxyProtocolMode } from '../../src/config/listen-url.js';
import type { EchoServerOptions, TlsOptions } from '../../src/config/options.js';
import type { RejectReason } from '../../src/core/stats.js';
import { CLIENT_CN, fingerprint256, type KeyPair, makeServerCert, SERVER_NAME, type TestPki, testPki } from '../../testkit/certs.js';
import { Fixture, HOST, untilServerStopsReading, WAIT_MS } from '../../testkit/clients.js';
import { type EchodProcess, RUNTIMES, startEchod } from '../../testkit/echod-process.js';
import { HAPROXY_SKIP, startHaproxy } from '../../testkit/haproxy.js';
import { OPENSSL, opensslEcho } from '../../testkit/openssl.js';
import { addresses, authorityTlv, FAMILY, v1, v2 } from '../../testkit/proxy-headers.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';
import { assertRefusals } from '../../testkit/refusals.js';
import { echoOf, StreamClient } from '../../testkit/stream-client.js';
import { Waiters, within } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 15_000;
const CLI_TIMEOUT_MS = 30_000;
/** Short, so the timeout test is quick; long enough for any loopback header to arrive. */
const HEADER_TIMEOUT_MS = 300;
const MiB = 1024 * 1024;

/**
 * How the balancer's bytes reach echod. `apart`: the header, then (once written) the TLS
 * handshake. `one-write`: the header and the ClientHello in a single write, so echod reads
 * ClientHello bytes along with the header. `split-hello`: the header and the ClientHello's
 * first bytes in one write, the rest of it later. `byte-by-byte`: the header one byte per write.
 */
type Delivery = 'apart' | 'one-write' | 'split-hello' | 'byte-by-byte';

/** Of the ClientHello, what `split-hello` sends with the header: part of the record header. */
const SPLIT_HELLO_BYTES = 3;

/**
 * The client side of a balancer that sends its header in the same write as the client's first
 * bytes (the ClientHello): a Duplex over the TCP socket that the TLS client runs on.
 */
class HeaderFirst extends Duplex {
  private readonly raw: Socket;
  private header: Buffer | null;
  private readonly splitAt: number | null;

  constructor(raw: Socket, header: Buffer, splitAt: number | null) {
    super({ allowHalfOpen: true });
    this.raw = raw;
    this.header = header;
    this.splitAt = splitAt;
    raw.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) raw.pause();
    });
    raw.on('end', () => this.push(null));
    raw.on('close', () => this.destroy());
  }

  override _read(): void {
    this.raw.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    const header = this.header;
    this.header = null;
    if (header === null) {
      this.raw.write(chunk, callback);
    } else if (this.splitAt === null) {
      this.raw.write(Buffer.concat([header, chunk]), callback);
    } else {
      const splitAt = this.splitAt;
      this.raw.write(Buffer.concat([header, chunk.subarray(0, splitAt)]), (err) => {
        if (err) return callback(err);
        // Let the server read the first part on its own before the rest arrives.
        void turn()
          .then(() => turn())
          .then(() => this.raw.write(chunk.subarray(splitAt), callback));
      });
    }
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.raw.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.raw.destroy();
    callback(err);
  }
}

function writeRaw(raw: Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => raw.write(data, (err) => (err ? reject(err) : resolve())));
}

/** A TCP connection to `port`, as a balancer opens one; its errors reach the TLS client on top of it. */
async function balancerSocket(port: number): Promise<Socket> {
  const raw = netConnect({ host: HOST, port, noDelay: true });
  raw.on('error', () => {}); // from the first moment; the TLS client above reports them
  await within(once(raw, 'connect'), WAIT_MS, `connect to port ${port}`);
  return raw;
}

/** Sends `header` as `delivery` says and returns the socket the TLS client is to run over. */
async function sendHeader(raw: Socket, header: Buffer, delivery: Delivery): Promise<Socket | Duplex> {
  switch (delivery) {
    case 'apart':
      await writeRaw(raw, header);
      return raw;
    case 'byte-by-byte':
      for (const byte of header) {
        await writeRaw(raw, Buffer.from([byte]));
        // Let the server's reads run between bytes, so it sees the header in pieces.
        await turn();
        await turn();
      }
      return raw;
    case 'one-write':
      return new HeaderFirst(raw, header, null);
    case 'split-hello':
      return new HeaderFirst(raw, header, SPLIT_HELLO_BYTES);
  }
}

describe('PROXY protocol on tls listeners', () => {
  let pki: TestPki;
  let dir: string;
  let fixture: Fixture | undefined;
  let logger: RecordingLogger;
  const sockets: { destroy(): void }[] = [];
  const processes: ChildProcessWithoutNullStreams[] = [];
  const echods: EchodProcess[] = [];

  before(async () => {
    pki = await testPki();
    dir = mkdtempSync(join(tmpdir(), 'echod-proxy-tls-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const child of processes.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const echod of echods.splice(0)) await echod.stop();
    await fixture?.cleanup();
    fixture = undefined;
  });

  async function start(
    proxyProtocol: ProxyProtocolMode,
    tls: TlsOptions = { cert: pki.server.cert, key: pki.server.key },
    extra: EchoServerOptions = {},
  ): Promise<Fixture> {
    logger = new RecordingLogger();
    fixture = await Fixture.start({
      listeners: [{ protocol: 'tls', host: HOST, port: 0, proxyProtocol }],
      tls,
      proxyProtocolTimeoutMs: HEADER_TIMEOUT_MS,
      logger,
      ...extra,
    });
    return fixture;
  }

  /** A client that verifies the server against the test CA, sending SNI. */
  function verifying(options: ConnectionOptions = {}): ConnectionOptions {
    return { ca: pki.ca.cert, servername: SERVER_NAME, rejectUnauthorized: true, ...options };
  }

  /** A TLS client behind a balancer: `header` first, then the handshake. `balancerPort` is the balancer's side of the TCP connection. */
  async function proxied(
    port: number,
    header: Buffer,
    options: ConnectionOptions = verifying(),
    delivery: Delivery = 'apart',
  ): Promise<{ client: StreamClient<TLSSocket>; balancerPort: number }> {
    const raw = await balancerSocket(port);
    sockets.push(raw);
    const balancerPort = raw.localPort as number;
    const client = await StreamClient.tls(port, { ...options, socket: await sendHeader(raw, header, delivery) });
    sockets.push(client);
    return { client, balancerPort };
  }

  /** As `proxied`, not waiting for the handshake (for clients the server is expected to refuse). */
  async function proxiedAttempt(port: number, header: Buffer, options: ConnectionOptions = verifying()): Promise<StreamClient<TLSSocket>> {
    const raw = await balancerSocket(port);
    sockets.push(raw);
    const client = StreamClient.tlsAttempt(port, { ...options, socket: await sendHeader(raw, header, 'apart') });
    sockets.push(client);
    return client;
  }

  /** The close line of the connection whose client (as the header named it) used `remotePort`. */
  async function closeLineOf(remotePort: number): Promise<Record<string, unknown>> {
    return (await logger.next('connection closed', (fields) => fields.remotePort === remotePort)).fields;
  }

  /** Asserts the server refused `client` for `reason` before serving it; resolves to the refusal's log line. */
  async function assertRefused(client: StreamClient, reason: RejectReason, count = 1): Promise<Record<string, unknown>> {
    await client.write('let me in\n').catch(() => {});
    await client.waitClosed();
    assert.equal(client.receivedBytes, 0, 'a refused client gets nothing echoed');
    const line = await assertRefusals(fixture as Fixture, logger, reason, count);
    assert.equal(typeof line.detail, 'string');
    assert.notEqual(line.detail, '');
    return line;
  }

  describe('headers before the handshake', () => {
    it(
      "v1 TCP4: byte-exact echo over TLS; the client is the header's source, the balancer `via`, in the logs and /connections",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { server, events } = await start('required');
        const { client, balancerPort } = await proxied(fixture?.port as number, v1('TCP4', '203.0.113.7', '198.51.100.1', 41_234, 443));
        assert.equal(client.socket.authorized, true, client.socket.authorizationError?.message);
        assert.equal(client.socket.getPeerCertificate().fingerprint256, fingerprint256(pki.server.cert));
        const payload = Buffer.concat([randomBytes(300_000), Buffer.from('\n')]);
        assert.ok((await echoOf(client, payload)).equals(payload), 'byte-exact echo over TLS after a PROXY header');

        const [open] = server.connectionsSnapshot();
        assert.deepEqual(open?.remote, { address: '203.0.113.7', port: 41_234 });
        assert.deepEqual(open?.via, { address: HOST, port: balancerPort });
        assert.deepEqual(open?.proxySource, { address: '203.0.113.7', port: 41_234 });
        assert.equal(open?.tls?.servername, SERVER_NAME);
        assert.match(open?.listener ?? '', /^tls:\/\/127\.0\.0\.1:/);
        const opened = await logger.next('connection opened');
        assert.equal(opened.fields.remote, '203.0.113.7');
        assert.equal((opened.fields.proxy as { version: number }).version, 1);

        const version = client.socket.getProtocol();
        const cipher = client.socket.getCipher().name;
        client.end();
        assert.equal((await client.readToEnd()).length, 0, 'the header is never echoed');
        const [summary] = await events.closed(1);
        assert.equal(summary?.remoteAddress, '203.0.113.7');
        assert.equal(summary?.remotePort, 41_234);
        assert.deepEqual(summary?.via, { address: HOST, port: balancerPort });
        assert.equal(summary?.bytesReceived, payload.length, 'plaintext bytes, neither the header nor TLS records');
        assert.equal(summary?.bytesSent, payload.length);
        const line = await closeLineOf(41_234);
        assert.equal(line.remote, '203.0.113.7');
        assert.deepEqual(line.via, { address: HOST, port: balancerPort });
        assert.equal(line.reason, 'client_closed');
        const { handshakeMs, ...negotiated } = line.tls as { handshakeMs?: unknown };
        assert.deepEqual(negotiated, { version, cipher, servername: SERVER_NAME, alpn: null, clientSubject: null, authorized: false });
        assert.ok(typeof handshakeMs === 'number' && handshakeMs > 0, `the handshake's duration in ms (${String(handshakeMs)})`);
        assert.deepEqual(events.rejects, []);
      },
    );

    it('v2 TCP6 with a TLV, a client offering ALPN, raw mode', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { events } = await start('required', undefined, { mode: 'raw' });
      const header = v2(
        0x21,
        FAMILY.TCP6,
        Buffer.concat([addresses('TCP6', '2001:db8::7', '2001:db8::1', 50_443, 443), authorityTlv('echo.example.com')]),
      );
      const { client, balancerPort } = await proxied(fixture?.port as number, header, verifying({ ALPNProtocols: ['echo'] }));
      const everyByte = Buffer.from(Array.from({ length: 256 * 64 }, (_, i) => i % 256));
      assert.ok((await echoOf(client, everyByte)).equals(everyByte));
      client.end();
      await client.readToEnd();
      const [summary] = await events.closed(1);
      assert.equal(summary?.remoteAddress, '2001:db8::7');
      assert.equal(summary?.remotePort, 50_443);
      assert.deepEqual(summary?.via, { address: HOST, port: balancerPort });
      const opened = await logger.next('connection opened');
      const proxy = opened.fields.proxy as { version: number; tlvs: { authority?: string } };
      assert.equal(proxy.version, 2);
      assert.equal(proxy.tlvs.authority, 'echo.example.com');
      const line = await closeLineOf(50_443);
      assert.equal((line.tls as { alpn: unknown }).alpn, null, 'echod offers no ALPN protocol');
    });

    const deliveries: [Delivery, string, Buffer, number][] = [
      [
        'one-write',
        'the header and the ClientHello in one write: the bytes read past the header reach the handshake',
        v2(0x21, FAMILY.TCP4, addresses('TCP4', '192.0.2.10', '192.0.2.1', 1010, 443)),
        1010,
      ],
      ['one-write', 'a v1 header and the ClientHello in one write', v1('TCP4', '192.0.2.11', '192.0.2.1', 1011, 443), 1011],
      [
        'split-hello',
        'the header with the first bytes of the ClientHello, the rest later',
        v2(0x21, FAMILY.TCP4, addresses('TCP4', '192.0.2.12', '192.0.2.1', 1012, 443)),
        1012,
      ],
      ['byte-by-byte', 'a v1 header sent byte by byte', v1('TCP4', '192.0.2.13', '192.0.2.1', 1013, 443), 1013],
      [
        'byte-by-byte',
        'a v2 header sent byte by byte',
        v2(0x21, FAMILY.TCP4, addresses('TCP4', '192.0.2.14', '192.0.2.1', 1014, 443)),
        1014,
      ],
    ];
    for (const [delivery, name, header, sourcePort] of deliveries) {
      it(name, { timeout: TEST_TIMEOUT_MS }, async () => {
        const { events } = await start('required');
        const { client } = await proxied(fixture?.port as number, header, verifying(), delivery);
        const payload = Buffer.concat([randomBytes(64 * 1024), Buffer.from('\nand a last line\n')]);
        assert.ok((await echoOf(client, payload)).equals(payload), `byte-exact echo (${delivery})`);
        client.end();
        assert.equal((await client.readToEnd()).length, 0);
        const [summary] = await events.closed(1);
        // Sources 192.0.2.10…14 with ports 1010…1014.
        assert.equal(summary?.remoteAddress, `192.0.2.${sourcePort - 1000}`);
        assert.equal(summary?.remotePort, sourcePort);
        assert.equal(summary?.reason, 'client_closed');
        assert.deepEqual(events.rejects, []);
      });
    }

    it("a v2 LOCAL health check: served over TLS with the connection's own address", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { events } = await start('required');
      const { client, balancerPort } = await proxied(fixture?.port as number, v2(0x20, FAMILY.UNSPEC));
      assert.equal((await echoOf(client, 'health\n')).toString(), 'health\n');
      client.end();
      await client.readToEnd();
      const [summary] = await events.closed(1);
      assert.equal(summary?.remoteAddress, HOST);
      assert.equal(summary?.remotePort, balancerPort);
      assert.equal(summary?.via, null);
    });
  });

  describe("'optional'", () => {
    it('serves a plain TLS client (no header) and a proxied one on one port', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { events } = await start('optional');
      const port = fixture?.port as number;
      const plain = await StreamClient.tls(port, verifying());
      sockets.push(plain);
      const plainPort = plain.socket.localPort as number;
      assert.equal((await echoOf(plain, 'no header at all\n')).toString(), 'no header at all\n');
      const { client, balancerPort } = await proxied(port, v1('TCP4', '203.0.113.50', '203.0.113.1', 6000, 443));
      assert.equal((await echoOf(client, 'with a header\n')).toString(), 'with a header\n');
      plain.end();
      await plain.readToEnd();
      client.end();
      await client.readToEnd();
      const summaries = await events.closed(2);
      const seen = summaries.map((summary) => [summary.remoteAddress, summary.remotePort, summary.via?.port ?? null]);
      assert.deepEqual(seen, [
        [HOST, plainPort, null],
        ['203.0.113.50', 6000, balancerPort],
      ]);
      const line = await closeLineOf(plainPort);
      assert.equal((line.tls as { servername: unknown }).servername, SERVER_NAME, "the plain client's handshake is the usual one");
      assert.deepEqual(events.rejects, []);
    });
  });

  describe('refusals', () => {
    it(
      "'required': a TLS client without a header is closed (proxy_protocol_error), logged with its address",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        await start('required');
        const direct = StreamClient.tlsAttempt(fixture?.port as number, verifying());
        sockets.push(direct);
        await within(once(direct.socket, 'connect'), WAIT_MS, 'the TCP connect');
        const directPort = direct.socket.localPort as number;
        const line = await assertRefused(direct, 'proxy_protocol_error');
        assert.equal(direct.secure, false, 'no handshake without a header');
        assert.equal(line.remote, HOST);
        assert.equal(line.remotePort, directPort);
        assert.match(String(line.detail), /no PROXY protocol header/);
      },
    );

    it('a malformed header is refused (proxy_protocol_error) before any handshake', { timeout: TEST_TIMEOUT_MS }, async () => {
      await start('required');
      const client = await proxiedAttempt(fixture?.port as number, v1('TCP4', '192.0.2.1', '192.0.2.2', 99_999, 443));
      const line = await assertRefused(client, 'proxy_protocol_error');
      assert.equal(client.secure, false);
      assert.match(String(line.detail), /port/);
    });

    it('a header that never completes is refused after proxyProtocolTimeoutMs (300 ms)', { timeout: TEST_TIMEOUT_MS }, async () => {
      await start('required');
      const started = performance.now();
      const raw = await balancerSocket(fixture?.port as number);
      sockets.push(raw);
      await writeRaw(raw, Buffer.from('PROXY TCP4 192.0.2.1 '));
      const closed = once(raw, 'close');
      await within(closed, WAIT_MS, 'echod to close the stalled connection');
      const { events } = fixture as Fixture;
      await events.until(() => events.rejects.length === 1, WAIT_MS, 'the refusal');
      assert.deepEqual(events.rejects, ['proxy_protocol_error']);
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= HEADER_TIMEOUT_MS - 2, `refused after ${Math.round(elapsed)} ms, not before ${HEADER_TIMEOUT_MS}`);
      assert.ok(elapsed < HEADER_TIMEOUT_MS + 2000, `refused after ${Math.round(elapsed)} ms`);
      const line = await logger.next('connection rejected');
      assert.equal(line.fields.reason, 'proxy_protocol_error');
      assert.match(String(line.fields.detail), /300/, 'the detail names the timeout');
    });

    it(
      "a good header followed by bytes that are not TLS: tls_error, naming the header's client",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { server } = await start('required');
        const addresses: string[] = [];
        server.on('reject', (_reason: RejectReason, address: string) => addresses.push(address));
        const raw = await balancerSocket(fixture?.port as number);
        sockets.push(raw);
        await writeRaw(
          raw,
          Buffer.concat([v1('TCP4', '198.51.100.66', '198.51.100.1', 6666, 443), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]),
        );
        await within(once(raw, 'close'), WAIT_MS, 'echod to close the connection');
        const { events } = fixture as Fixture;
        await events.until(() => events.rejects.length === 1, WAIT_MS, 'the refusal');
        assert.deepEqual(events.rejects, ['tls_error']);
        assert.deepEqual(addresses, ['198.51.100.66']);
        const line = await logger.next('connection rejected');
        assert.equal(line.fields.remote, '198.51.100.66');
        assert.equal(line.fields.remotePort, 6666);
      },
    );
  });

  describe('mTLS through the balancer', () => {
    const mtls = (): TlsOptions => ({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, clientAuth: 'require' });

    it(
      "clientAuth 'require': a client with a certificate from the CA is served; its subject and the header's source are logged",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { events } = await start('required', mtls());
        const { client } = await proxied(
          fixture?.port as number,
          v1('TCP4', '203.0.113.20', '203.0.113.1', 2020, 443),
          verifying({ cert: pki.client.cert, key: pki.client.key }),
        );
        assert.equal((await echoOf(client, 'mutual\n')).toString(), 'mutual\n');
        client.end();
        await client.readToEnd();
        await events.closed(1);
        const line = await closeLineOf(2020);
        assert.equal(line.remote, '203.0.113.20');
        const tls = line.tls as { clientSubject: unknown; authorized: unknown };
        assert.equal(tls.clientSubject, `CN=${CLIENT_CN}`);
        assert.equal(tls.authorized, true);
        assert.deepEqual(events.rejects, []);
      },
    );

    it(
      "clientAuth 'require': no certificate, or a foreign one, is refused (tls_error) naming the header's client",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { server, events } = await start('required', mtls());
        const addresses: string[] = [];
        server.on('reject', (_reason: RejectReason, address: string) => addresses.push(address));
        const anonymous = await proxiedAttempt(fixture?.port as number, v1('TCP4', '203.0.113.21', '203.0.113.1', 2021, 443));
        await assertRefused(anonymous, 'tls_error');
        const stranger = await proxiedAttempt(
          fixture?.port as number,
          v1('TCP4', '203.0.113.22', '203.0.113.1', 2022, 443),
          verifying({ cert: pki.strangerClient.cert, key: pki.strangerClient.key }),
        );
        await assertRefused(stranger, 'tls_error', 2);
        assert.deepEqual(addresses, ['203.0.113.21', '203.0.113.22']);
        const refusal = await logger.next('connection rejected');
        assert.equal(refusal.fields.remote, '203.0.113.21');
        assert.equal(refusal.fields.remotePort, 2021);
        assert.equal(events.closes.length, 0);
      },
    );
  });

  describe('reloadTls()', () => {
    let second: KeyPair;
    before(async () => {
      second = await makeServerCert(pki.ca, 'second.localhost');
    });

    it('the next proxied connection gets the new certificate; an open one keeps echoing', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { server, events } = await start('required');
      const port = fixture?.port as number;
      const { client: old } = await proxied(port, v1('TCP4', '203.0.113.30', '203.0.113.1', 3030, 443));
      assert.equal(old.socket.getPeerCertificate().fingerprint256, fingerprint256(pki.server.cert));
      assert.equal((await echoOf(old, 'before\n')).toString(), 'before\n');

      await server.reloadTls({ cert: second.cert, key: second.key });
      const { client: fresh } = await proxied(
        port,
        v2(0x21, FAMILY.TCP4, addresses('TCP4', '203.0.113.31', '203.0.113.1', 3031, 443)),
        verifying(),
        'one-write',
      );
      assert.equal(fresh.socket.getPeerCertificate().fingerprint256, fingerprint256(second.cert));
      assert.equal((await echoOf(fresh, 'new certificate\n')).toString(), 'new certificate\n');
      assert.equal((await echoOf(old, 'after\n')).toString(), 'after\n', 'the reload dropped no connection');
      assert.equal(events.closes.length, 0);
    });
  });

  describe('limits and backpressure', () => {
    it("maxConnectionsPerIp counts the header's address, not the balancer's", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { events } = await start('required', undefined, { maxConnectionsPerIp: 1 });
      const port = fixture?.port as number;
      const { client: alice } = await proxied(port, v1('TCP4', '198.51.100.1', '192.0.2.1', 1001, 443));
      assert.equal((await echoOf(alice, 'alice\n')).toString(), 'alice\n');
      const { client: bob } = await proxied(port, v1('TCP4', '198.51.100.2', '192.0.2.1', 1002, 443));
      assert.equal((await echoOf(bob, 'bob\n')).toString(), 'bob\n', 'another client behind the same balancer is served');
      const aliceAgain = await proxiedAttempt(port, v1('TCP4', '198.51.100.1', '192.0.2.1', 1003, 443));
      await aliceAgain.write('alice again\n').catch(() => {});
      await aliceAgain.waitClosed();
      assert.equal(aliceAgain.receivedBytes, 0);
      await events.until(() => events.rejects.length === 1, WAIT_MS, 'the second connection from 198.51.100.1 to be refused');
      assert.deepEqual(events.rejects, ['max_connections_per_ip']);
    });

    it('a client that does not read holds the server to a bounded read, then gets every byte', { timeout: 30_000 }, async () => {
      // No write-stall timeout: this test is about holding, not about giving up.
      const { server, events } = await start('required', undefined, { mode: 'raw', writeStallTimeoutMs: 0 });
      const raw = await balancerSocket(fixture?.port as number);
      sockets.push(raw);
      await writeRaw(raw, v1('TCP4', '198.51.100.40', '198.51.100.1', 4040, 443));
      // A TLS client with no 'data' listener: it reads nothing until told to.
      const socket = tlsConnect({ ...verifying(), socket: raw });
      sockets.push(socket);
      socket.on('error', () => {});
      await within(once(socket, 'secureConnect'), WAIT_MS, 'the handshake');
      const payload = randomBytes(32 * MiB);
      socket.write(payload);

      const readWhileBlocked = await untilServerStopsReading(server, 20_000);
      // Kernel buffers both ways (up to a few MiB each) and a few stream highWaterMarks; all of it would be 32 MiB.
      assert.ok(readWhileBlocked < 16 * MiB, `the server read ${(readWhileBlocked / MiB).toFixed(1)} MiB from a client that reads nothing`);
      assert.ok(socket.writableLength > 0, 'the backpressure reached the client: it still holds unsent bytes');
      assert.equal(events.closes.length, 0);

      const chunks: Buffer[] = [];
      let received = 0;
      const waiters = new Waiters();
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        waiters.notify();
      });
      await waiters.until(() => received >= payload.length, 20_000, 'every byte back');
      assert.ok(Buffer.concat(chunks).equals(payload), 'the echo differs from what was sent');
      socket.end();
      const [summary] = await events.closed(1);
      assert.equal(summary?.remoteAddress, '198.51.100.40');
      assert.equal(summary?.bytesReceived, payload.length);
      assert.equal(summary?.bytesSent, payload.length);
    });
  });

  describe('the CLI', () => {
    for (const runtime of RUNTIMES) {
      it(
        `${runtime}: --listen "tls://…?proxy=required"; SIGHUP's certificate is the one the next proxied client gets`,
        { timeout: CLI_TIMEOUT_MS },
        async () => {
          const certFile = join(dir, `${runtime}.crt`);
          const keyFile = join(dir, `${runtime}.key`);
          writeFileSync(certFile, pki.server.cert);
          writeFileSync(keyFile, pki.server.key);
          const second = await makeServerCert(pki.ca, 'reloaded.localhost');
          // A plain tcp listener first: its line is the one startEchod checks the runtime's transport on.
          const { echod } = await startEchod(
            runtime,
            [
              '--listen',
              `tcp://${HOST}:0`,
              '--listen',
              `tls://${HOST}:0?proxy=required`,
              '--tls-cert',
              certFile,
              '--tls-key',
              keyFile,
              '--proxy-protocol-timeout',
              '2s',
            ],
            (started) => echods.push(started),
          );
          await echod.until(() => echod.all('listening').length === 2, 'two listening lines');
          const tlsLine = echod.all('listening').find((line) => String(line.listener).startsWith('tls://'));
          assert.equal(tlsLine?.proxyProtocol, 'required');
          const port = tlsLine?.port as number;

          const { client: old, balancerPort } = await proxied(
            port,
            v2(0x21, FAMILY.TCP4, addresses('TCP4', '203.0.113.90', '203.0.113.1', 9090, 443)),
            verifying(),
            'one-write',
          );
          assert.equal(old.socket.getPeerCertificate().fingerprint256, fingerprint256(pki.server.cert));
          assert.equal((await echoOf(old, 'first\n')).toString(), 'first\n');

          writeFileSync(certFile, second.cert);
          writeFileSync(keyFile, second.key);
          echod.signal('SIGHUP');
          await echod.line('tls certificates reloaded');
          const { client: fresh } = await proxied(port, v1('TCP4', '203.0.113.91', '203.0.113.1', 9091, 443));
          assert.equal(fresh.socket.getPeerCertificate().fingerprint256, fingerprint256(second.cert));
          assert.equal((await echoOf(fresh, 'second\n')).toString(), 'second\n');
          assert.equal((await echoOf(old, 'still here\n')).toString(), 'still here\n', 'SIGHUP dropped no connection');

          const direct = StreamClient.tlsAttempt(port, verifying());
          sockets.push(direct);
          await direct.waitClosed();
          assert.equal(direct.secure, false);
          const refusal = await echod.log(
            (line) => line.msg === 'connection rejected' && line.reason === 'proxy_protocol_error',
            'the refusal of the client without a header',
          );
          assert.equal(refusal.remote, HOST);

          const version = old.socket.getProtocol();
          old.end();
          await old.readToEnd();
          const closed = await echod.log(
            (line) => line.msg === 'connection closed' && line.remotePort === 9090,
            'the close of the first proxied connection',
          );
          assert.equal(closed.remote, '203.0.113.90');
          assert.deepEqual(closed.via, { address: HOST, port: balancerPort });
          const tls = closed.tls as { servername: unknown; version: unknown };
          assert.equal(tls.servername, SERVER_NAME);
          assert.equal(tls.version, version);

          fresh.end();
          echod.signal('SIGTERM');
          assert.deepEqual(await echod.exited(), { code: 0, signal: null });
        },
      );
    }

    it(
      'haproxy (send-proxy-v2) in front, openssl s_client behind it: the line comes back, the log names the client and haproxy',
      { timeout: CLI_TIMEOUT_MS, skip: HAPROXY_SKIP !== false ? HAPROXY_SKIP : !OPENSSL ? 'openssl is not installed' : false },
      async () => {
        const certFile = join(dir, 'haproxy-test.crt');
        const keyFile = join(dir, 'haproxy-test.key');
        const caFile = join(dir, 'haproxy-test-ca.pem');
        writeFileSync(certFile, pki.server.cert);
        writeFileSync(keyFile, pki.server.key);
        writeFileSync(caFile, pki.ca.cert);
        const args = [
          '--listen',
          `tcp://${HOST}:0`,
          '--listen',
          `tls://${HOST}:0?proxy=required`,
          '--tls-cert',
          certFile,
          '--tls-key',
          keyFile,
        ];
        const { echod } = await startEchod('node', args, (started) => echods.push(started));
        await echod.until(() => echod.all('listening').length === 2, 'two listening lines');
        const echodPort = echod.all('listening').find((line) => String(line.listener).startsWith('tls://'))?.port as number;

        // haproxy listens on a socket made on port 0 and passed in as fd 3 (as systemd would).
        const { haproxy, port: balancerPort } = await startHaproxy(
          dir,
          (bind) =>
            [
              'defaults',
              '  mode tcp',
              '  timeout connect 5s',
              '  timeout client 30s',
              '  timeout server 30s',
              'frontend balancer',
              `  bind ${bind}`,
              '  default_backend echod',
              'backend echod',
              `  server echod ${HOST}:${echodPort} send-proxy-v2`,
              '',
            ].join('\n'),
          (started) => processes.push(started.child),
        );

        const { child: openssl, stdout } = await opensslEcho(
          balancerPort,
          caFile,
          'through haproxy\n',
          (started) => processes.push(started),
          'the echo through haproxy and openssl',
          () => `; haproxy: ${haproxy.output}`,
        );
        assert.equal(stdout, 'through haproxy\n');

        const opened = await echod.line('connection opened');
        const proxy = opened.proxy as { version: number; destination: { address: string; port: number } };
        assert.equal(proxy.version, 2);
        assert.deepEqual(proxy.destination, { address: HOST, port: balancerPort }, 'the header names the address openssl connected to');
        assert.equal(opened.remote, HOST);
        const via = opened.via as { address: string; port: number };
        assert.equal(via.address, HOST);
        assert.notEqual(via.port, opened.remotePort, 'openssl is the client, haproxy the balancer');

        openssl.kill('SIGTERM');
        const closed = await echod.log(
          (line) => line.msg === 'connection closed' && line.remotePort === opened.remotePort,
          'the close of the connection',
        );
        assert.equal((closed.tls as { servername: unknown }).servername, SERVER_NAME);
        assert.deepEqual(closed.via, via);
      },
    );
  });
});
