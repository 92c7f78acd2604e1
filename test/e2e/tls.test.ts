// TLS listeners over real TLS clients (node:tls, and `openssl s_client`): byte-exact echo,
// what a connection negotiated on its close line, mTLS (required and requested), the minimum
// version, and certificate reloads (library `reloadTls()` and the CLI's SIGHUP) that never
// drop an open connection.
import assert from 'node:assert/strict';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { checkServerIdentity, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { EchoServerOptions, TlsOptions } from '../../src/config/options.js';
import type { RejectReason } from '../../src/core/stats.js';
import {
  CLIENT_CN,
  fingerprint256,
  type KeyPair,
  makeServerCert,
  SERVER_NAME,
  STRANGER_CN,
  type TestPki,
  testPki,
} from '../../testkit/certs.js';
import { Client, Fixture, HOST, WAIT_MS } from '../../testkit/clients.js';
import { type EchodProcess, startEchod } from '../../testkit/echod-process.js';
import { OPENSSL, opensslEcho } from '../../testkit/openssl.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';
import { echoOf, StreamClient } from '../../testkit/stream-client.js';
import { within } from '../../testkit/wait.js';

const TEST_TIMEOUT_MS = 15_000;
const CLI_TIMEOUT_MS = 30_000;

describe('tls listeners', () => {
  let pki: TestPki;
  let dir: string;
  let fixture: Fixture | undefined;
  let logger: RecordingLogger;
  const clients: StreamClient[] = [];
  const processes: ChildProcessWithoutNullStreams[] = [];
  const echods: EchodProcess[] = [];

  before(async () => {
    pki = await testPki();
    dir = mkdtempSync(join(tmpdir(), 'echod-tls-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    for (const child of processes.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const echod of echods.splice(0)) await echod.stop();
    await fixture?.cleanup();
    fixture = undefined;
  });

  async function start(tls: TlsOptions, extra: EchoServerOptions = {}): Promise<Fixture> {
    logger = new RecordingLogger();
    fixture = await Fixture.start({ listeners: [{ protocol: 'tls', host: HOST, port: 0 }], tls, logger, ...extra });
    return fixture;
  }

  /** A client that verifies the server against the test CA, sending SNI. */
  function verifying(options: ConnectionOptions = {}): ConnectionOptions {
    return { ca: pki.ca.cert, servername: SERVER_NAME, rejectUnauthorized: true, ...options };
  }

  async function connect(port: number, options: ConnectionOptions = {}): Promise<StreamClient<TLSSocket>> {
    const client = await StreamClient.tls(port, options);
    clients.push(client);
    return client;
  }

  function attempt(port: number, options: ConnectionOptions = {}): StreamClient<TLSSocket> {
    const client = StreamClient.tlsAttempt(port, options);
    clients.push(client);
    return client;
  }

  /** The close line of the connection `client` made (by its local port). */
  function closeLineOf(localPort: number): Promise<Record<string, unknown>> {
    return logger.next('connection closed', (fields) => fields.remotePort === localPort).then((record) => record.fields);
  }

  /** Asserts the server refused `client`: not one byte echoed, the socket closed. */
  async function assertRefused(client: StreamClient): Promise<void> {
    await client.write('let me in\n').catch(() => {});
    await client.waitClosed();
    assert.equal(client.receivedBytes, 0, 'a refused client gets nothing echoed');
  }

  function peerFingerprint(client: StreamClient<TLSSocket>): string {
    return client.socket.getPeerCertificate().fingerprint256;
  }

  describe('echo', () => {
    it(
      'selfSigned: a node:tls client gets every byte back, over a certificate valid for 127.0.0.1',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { port, events } = await start({ selfSigned: true });
        const client = await connect(port);
        const payload = Buffer.concat([randomBytes(200_000), Buffer.from('\n')]);
        assert.ok((await echoOf(client, payload)).equals(payload), 'byte-exact echo over TLS');

        const cert = client.socket.getPeerCertificate();
        assert.deepEqual(cert.issuer, cert.subject, 'self-signed');
        assert.equal(checkServerIdentity('127.0.0.1', cert), undefined, 'the certificate names 127.0.0.1');
        assert.equal(checkServerIdentity('localhost', cert), undefined, 'and localhost');

        const localPort = client.socket.localPort as number;
        client.end();
        assert.equal((await client.readToEnd()).length, 0);
        const [summary] = await events.closed(1);
        assert.equal(summary?.bytesReceived, payload.length, 'plaintext bytes are counted, not TLS records');
        assert.equal(summary?.bytesSent, payload.length);
        const line = await closeLineOf(localPort);
        assert.equal((line.tls as { servername: unknown }).servername, null, 'no SNI sent to an IP address');
      },
    );

    it('a verifying client: byte-exact raw echo, and the close line tells what was negotiated', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { port, events } = await start({ cert: pki.server.cert, key: pki.server.key }, { mode: 'raw' });
      const client = await connect(port, verifying({ ALPNProtocols: ['echo', 'x-test'] }));
      assert.equal(client.socket.authorized, true, client.socket.authorizationError?.message);
      const everyByte = Buffer.from(Array.from({ length: 256 * 64 }, (_, i) => i % 256));
      assert.ok((await echoOf(client, everyByte)).equals(everyByte));
      assert.ok((await echoOf(client, 'no newline needed in raw mode')).equals(Buffer.from('no newline needed in raw mode')));

      const version = client.socket.getProtocol();
      const cipher = client.socket.getCipher().name;
      const localPort = client.socket.localPort as number;
      assert.equal(client.socket.alpnProtocol, false, 'the server does not speak ALPN');
      client.end();
      await client.readToEnd();
      const [summary] = await events.closed(1);
      assert.match(summary?.listener ?? '', /^tls:\/\/127\.0\.0\.1:/);
      assert.equal(summary?.remoteAddress, HOST);
      assert.equal(summary?.remotePort, localPort);
      const line = await closeLineOf(localPort);
      assert.equal(line.reason, 'client_closed');
      const { handshakeMs, ...negotiated } = line.tls as { handshakeMs?: unknown };
      assert.deepEqual(negotiated, { version, cipher, servername: SERVER_NAME, alpn: null, clientSubject: null, authorized: false });
      assert.ok(typeof handshakeMs === 'number' && handshakeMs > 0, `the handshake's duration in ms (${String(handshakeMs)})`);
      assert.ok(version === 'TLSv1.3' || version === 'TLSv1.2', `a modern version (${String(version)})`);
    });

    it(
      'openssl s_client verifies the certificate and gets a line back',
      { timeout: TEST_TIMEOUT_MS, skip: OPENSSL ? false : 'openssl is not installed' },
      async () => {
        const { port, events } = await start({ cert: pki.server.cert, key: pki.server.key });
        const caFile = join(dir, 'ca-for-openssl.pem');
        writeFileSync(caFile, pki.ca.cert);
        const { child, stdout } = await opensslEcho(
          port,
          caFile,
          'hello from openssl\n',
          (started) => processes.push(started),
          'the echo through openssl',
        );
        assert.equal(stdout, 'hello from openssl\n');
        child.kill('SIGTERM');
        const [summary] = await events.closed(1);
        const line = await closeLineOf(summary?.remotePort ?? -1);
        assert.equal((line.tls as { servername: unknown }).servername, SERVER_NAME);
      },
    );
  });

  describe('mTLS', () => {
    it(
      "clientAuth 'require': a client with a certificate from the CA is served and its subject logged",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { port, events } = await start({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, clientAuth: 'require' });
        const client = await connect(port, verifying({ cert: pki.client.cert, key: pki.client.key }));
        assert.equal((await echoOf(client, 'mutual\n')).toString(), 'mutual\n');
        const localPort = client.socket.localPort as number;
        client.end();
        await client.readToEnd();
        await events.closed(1);
        const line = await closeLineOf(localPort);
        const tls = line.tls as { clientSubject: unknown; authorized: unknown };
        assert.equal(tls.clientSubject, `CN=${CLIENT_CN}`);
        assert.equal(tls.authorized, true);
        assert.deepEqual(events.rejects, []);
      },
    );

    it(
      "clientAuth 'require': no certificate, or one from another CA, is refused (tls_error); others are unaffected",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { port, server, events } = await start({
          cert: pki.server.cert,
          key: pki.server.key,
          ca: pki.ca.cert,
          clientAuth: 'require',
        });
        const member = await connect(port, verifying({ cert: pki.client.cert, key: pki.client.key }));
        assert.equal((await echoOf(member, 'before\n')).toString(), 'before\n');

        const anonymous = attempt(port, verifying());
        await assertRefused(anonymous);
        await events.until(() => events.rejects.length === 1, WAIT_MS, 'the client without a certificate to be refused');
        const stranger = attempt(port, verifying({ cert: pki.strangerClient.cert, key: pki.strangerClient.key }));
        await assertRefused(stranger);
        await events.until(() => events.rejects.length === 2, WAIT_MS, 'the client with a foreign certificate to be refused');
        // Same again over TLS 1.2, where the refusal happens inside the handshake.
        const stranger12 = attempt(port, verifying({ cert: pki.strangerClient.cert, key: pki.strangerClient.key, maxVersion: 'TLSv1.2' }));
        await assertRefused(stranger12);
        await events.until(() => events.rejects.length === 3, WAIT_MS, 'the TLS 1.2 client with a foreign certificate to be refused');

        assert.deepEqual(events.rejects, ['tls_error', 'tls_error', 'tls_error']);
        const { connections } = server.stats;
        assert.equal(connections.rejected.tls_error, 3);
        assert.equal(connections.total, 1, 'refused clients are not counted as served');
        assert.equal(connections.active, 1);
        const refusal = await logger.next('connection rejected');
        assert.equal(refusal.fields.reason, 'tls_error');
        assert.equal(typeof refusal.fields.detail, 'string');
        assert.notEqual(refusal.fields.detail, '');

        assert.equal((await echoOf(member, 'after\n')).toString(), 'after\n', 'the member kept its connection');
        const again = await connect(port, verifying({ cert: pki.client.cert, key: pki.client.key }));
        assert.equal((await echoOf(again, 'still welcome\n')).toString(), 'still welcome\n');
      },
    );

    it(
      'a refusal for a foreign certificate names the client and the verification error',
      {
        timeout: TEST_TIMEOUT_MS,
      },
      async () => {
        const { port, events, server } = await start({
          cert: pki.server.cert,
          key: pki.server.key,
          ca: pki.ca.cert,
          clientAuth: 'require',
        });
        const addresses: string[] = [];
        server.on('reject', (_reason: RejectReason, address: string) => addresses.push(address));
        const stranger = attempt(port, verifying({ cert: pki.strangerClient.cert, key: pki.strangerClient.key }));
        await assertRefused(stranger);
        await events.until(() => events.rejects.length === 1, WAIT_MS, 'the refusal');
        assert.deepEqual(addresses, [HOST], 'the reject event names the client');
        const refusal = await logger.next('connection rejected');
        assert.equal(refusal.fields.remote, HOST);
        assert.match(String(refusal.fields.detail), /VERIFY|CERT|SIGNATURE|ISSUER/i, 'the detail says the certificate did not verify');
      },
    );

    it(
      "clientAuth 'request': clients with and without certificates are served; only a CA-signed one is authorized",
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { port, events } = await start({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, clientAuth: 'request' });
        const cases: { options: ConnectionOptions; subject: string | null; authorized: boolean }[] = [
          { options: verifying({ cert: pki.client.cert, key: pki.client.key }), subject: `CN=${CLIENT_CN}`, authorized: true },
          { options: verifying(), subject: null, authorized: false },
          {
            options: verifying({ cert: pki.strangerClient.cert, key: pki.strangerClient.key }),
            subject: `CN=${STRANGER_CN}`,
            authorized: false,
          },
        ];
        for (const [index, { options, subject, authorized }] of cases.entries()) {
          const client = await connect(port, options);
          assert.equal((await echoOf(client, `case ${index}\n`)).toString(), `case ${index}\n`);
          const localPort = client.socket.localPort as number;
          client.end();
          await client.readToEnd();
          const line = await closeLineOf(localPort);
          const tls = line.tls as { clientSubject: unknown; authorized: unknown };
          assert.equal(tls.clientSubject, subject, `case ${index}`);
          assert.equal(tls.authorized, authorized, `case ${index}`);
        }
        assert.deepEqual(events.rejects, []);
      },
    );
  });

  describe('minVersion', () => {
    it("'TLSv1.3' refuses a TLS 1.2-only client (tls_error) and serves a TLS 1.3 one", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { port, server, events } = await start({ cert: pki.server.cert, key: pki.server.key, minVersion: 'TLSv1.3' });
      const addresses: string[] = [];
      server.on('reject', (_reason: RejectReason, address: string) => addresses.push(address));
      const old = attempt(port, verifying({ maxVersion: 'TLSv1.2' }));
      await assertRefused(old);
      assert.equal(old.secure, false, 'the handshake never completed');
      await events.until(() => events.rejects.length === 1, WAIT_MS, 'the TLS 1.2 client to be refused');
      assert.deepEqual(events.rejects, ['tls_error']);
      assert.deepEqual(addresses, [HOST]);
      assert.equal(server.stats.connections.rejected.tls_error, 1);

      const modern = await connect(port, verifying());
      assert.equal(modern.socket.getProtocol(), 'TLSv1.3');
      assert.equal((await echoOf(modern, 'tls13\n')).toString(), 'tls13\n');
    });

    it('the default (TLSv1.2) serves a TLS 1.2-only client', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { port, events } = await start({ cert: pki.server.cert, key: pki.server.key });
      const old = await connect(port, verifying({ maxVersion: 'TLSv1.2' }));
      assert.equal(old.socket.getProtocol(), 'TLSv1.2');
      assert.equal((await echoOf(old, 'tls12\n')).toString(), 'tls12\n');
      assert.deepEqual(events.rejects, []);
    });
  });

  describe('limits', () => {
    it(
      'a socket in its handshake holds a connection slot: past maxConnections, more are refused before any handshake',
      { timeout: TEST_TIMEOUT_MS },
      async () => {
        const { port, server, events } = await start({ cert: pki.server.cert, key: pki.server.key }, { maxConnections: 2 });
        // Two clients that connect and never start a handshake.
        const silent = [await Client.connect(port), await Client.connect(port)];
        const third = attempt(port, verifying());
        await assertRefused(third);
        assert.equal(third.secure, false, 'refused before any handshake');
        await events.until(() => events.rejects.length === 1, WAIT_MS, 'the third client to be refused');
        assert.deepEqual(events.rejects, ['max_connections']);
        assert.equal(server.stats.connections.active, 0, 'a socket in its handshake is not an active connection');

        // One of them sends something that is not TLS: its handshake fails and its slot is free.
        await (silent[0] as Client).write('not a ClientHello\n');
        await events.until(() => events.rejects.includes('tls_error'), WAIT_MS, 'the failed handshake to be refused');
        const fourth = await connect(port, verifying());
        assert.equal((await echoOf(fourth, 'my turn\n')).toString(), 'my turn\n');
        assert.deepEqual(events.rejects, ['max_connections', 'tls_error']);

        // Shutting down: the socket still in its handshake is closed at once (not after the
        // handshake timeout), and that is not counted as a failed handshake.
        fourth.end();
        await within(server.close(), WAIT_MS, 'server.close() with a socket in its handshake');
        await (silent[1] as Client).waitClosed();
        assert.deepEqual(events.rejects, ['max_connections', 'tls_error']);
        (silent[0] as Client).destroy();
      },
    );
  });

  describe('reloadTls()', () => {
    let second: KeyPair;
    before(async () => {
      second = await makeServerCert(pki.ca, 'second.localhost');
    });

    it('new connections get the new certificate; an open one keeps echoing', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { port, server, events } = await start({ cert: pki.server.cert, key: pki.server.key });
      const first = fingerprint256(pki.server.cert);
      const next = fingerprint256(second.cert);
      assert.notEqual(first, next);
      const old = await connect(port, verifying());
      assert.equal(peerFingerprint(old), first);
      assert.equal((await echoOf(old, 'before the reload\n')).toString(), 'before the reload\n');

      await server.reloadTls({ cert: second.cert, key: second.key });
      assert.equal(logger.all('tls certificates reloaded').length, 1);
      const fresh = await connect(port, verifying());
      assert.equal(peerFingerprint(fresh), next);
      assert.equal((await echoOf(fresh, 'new certificate\n')).toString(), 'new certificate\n');
      assert.equal((await echoOf(old, 'after the reload\n')).toString(), 'after the reload\n', 'the open connection was not dropped');
      assert.equal(events.closes.length, 0);
    });

    it('a certificate that does not match its key is refused and the old one stays', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { port, server } = await start({ cert: pki.server.cert, key: pki.server.key });
      await assert.rejects(server.reloadTls({ cert: second.cert, key: pki.server.key }));
      assert.equal(logger.all('tls certificates reloaded').length, 0);
      const client = await connect(port, verifying());
      assert.equal(peerFingerprint(client), fingerprint256(pki.server.cert));
      assert.equal((await echoOf(client, 'old certificate\n')).toString(), 'old certificate\n');
    });

    it('mTLS still holds after a reload that names only the new certificate', { timeout: TEST_TIMEOUT_MS }, async () => {
      const { port, server, events } = await start({ cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, clientAuth: 'require' });
      await server.reloadTls({ cert: second.cert, key: second.key });
      const member = await connect(port, verifying({ cert: pki.client.cert, key: pki.client.key }));
      assert.equal(peerFingerprint(member), fingerprint256(second.cert));
      assert.equal((await echoOf(member, 'member\n')).toString(), 'member\n');
      await assertRefused(attempt(port, verifying()));
      await events.until(() => events.rejects.length === 1, WAIT_MS, 'the client without a certificate to be refused');
      assert.deepEqual(events.rejects, ['tls_error']);
    });
  });

  describe('the CLI', () => {
    it(
      '--listen tls:// with --tls-cert/--tls-key; SIGHUP re-reads the files without dropping a connection',
      { timeout: CLI_TIMEOUT_MS },
      async () => {
        const certFile = join(dir, 'server.crt');
        const keyFile = join(dir, 'server.key');
        writeFileSync(certFile, pki.server.cert);
        writeFileSync(keyFile, pki.server.key);
        const second = await makeServerCert(pki.ca, 'reloaded.localhost');
        const { echod, port } = await startEchod(
          'node',
          ['--listen', `tls://${HOST}:0`, '--tls-cert', certFile, '--tls-key', keyFile],
          (started) => echods.push(started),
        );
        const listening = await echod.line('listening');
        assert.equal(listening.listener, `tls://${HOST}:${port}`);

        const old = await connect(port, verifying());
        assert.equal(peerFingerprint(old), fingerprint256(pki.server.cert));
        assert.equal((await echoOf(old, 'first\n')).toString(), 'first\n');

        writeFileSync(certFile, second.cert);
        writeFileSync(keyFile, second.key);
        echod.signal('SIGHUP');
        await echod.line('tls certificates reloaded');
        const fresh = await connect(port, verifying());
        assert.equal(peerFingerprint(fresh), fingerprint256(second.cert));
        assert.equal((await echoOf(fresh, 'second\n')).toString(), 'second\n');
        assert.equal((await echoOf(old, 'still here\n')).toString(), 'still here\n', 'SIGHUP dropped no connection');

        // A broken key file: logged, and the certificate in service stays.
        writeFileSync(keyFile, 'not a key\n');
        echod.signal('SIGHUP');
        await echod.line('tls reload failed; keeping the old certificates');
        assert.equal(echod.all('tls certificates reloaded').length, 1);
        const third = await connect(port, verifying());
        assert.equal(peerFingerprint(third), fingerprint256(second.cert));
        assert.equal(echod.exit, null, 'a failed reload does not stop echod');

        for (const client of [old, fresh, third]) client.end();
        echod.signal('SIGTERM');
        assert.deepEqual(await echod.exited(), { code: 0, signal: null });
      },
    );
  });
});
