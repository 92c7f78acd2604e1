// Direct reads rely on node:net internals (src/transports/node-direct-read.ts). On this Node the
// shape check must pass — if a Node release changes the listening handle, this fails here rather
// than echod quietly falling back. A handle of another shape must leave node:net untouched, with
// one warning; and `directRead: false` (`--direct-read off`) must serve through node:net as usual.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { acceptDirect, directReadShape } from '../../src/transports/node-direct-read.js';
import { createEchoServer } from '../../src/server/server.js';
import { parseCommandLine } from '../../src/cli/flags.js';
import { resolveCliConfig } from '../../src/cli/config.js';
import { Client, HOST } from '../../testkit/clients.js';
import { RecordingLogger } from '../../testkit/recording-logger.js';

const FALLBACK = "direct reads off: node:net's listening handle is not the shape echod expects; reading through node:net's 'data' events";

async function listening(server: Server, at: { path: string } | { host: string; port: number }): Promise<Server> {
  server.listen(at);
  await once(server, 'listening');
  return server;
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A server whose `_handle` is `handle`, as acceptDirect sees it. */
function serverWithHandle(handle: unknown): Server {
  const server = createServer();
  (server as Server & { _handle: unknown })._handle = handle;
  return server;
}

const noop = (): void => {};
const options = (logger: RecordingLogger) => ({
  listener: 'tcp://fake:1',
  pauseOnCreate: false,
  noDelay: true,
  onSocket: noop,
  onBytes: noop,
  logger,
});

describe('direct reads: the node:net shape they rely on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'echod-shape-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it(`passes on this Node (${process.version}) for a tcp and a unix listening handle`, async () => {
    for (const at of [{ host: HOST, port: 0 }, { path: join(dir, 'shape.sock') }]) {
      const server = await listening(createServer(), at);
      try {
        assert.equal(directReadShape(server), null);
        const logger = new RecordingLogger();
        assert.equal(acceptDirect(server, options(logger)), true);
        assert.equal(logger.all(FALLBACK).length, 0);
      } finally {
        await close(server);
      }
    }
  });

  const accept = function onconnection(_err: number, _handle?: object): void {};
  const streamMethods = { useUserBuffer: noop, readStart: noop, readStop: noop };
  const shapes: [string, unknown][] = [
    ['no listening handle', null],
    ['no onconnection', { ...streamMethods }],
    ['an onconnection of another arity', { ...streamMethods, onconnection: function onconnection(_err: number): void {} }],
    [
      "an onconnection that is not node:net's",
      { ...streamMethods, onconnection: function someoneElses(_err: number, _handle?: object): void {} },
    ],
    ['a stream handle without useUserBuffer', { onconnection: accept, readStart: noop, readStop: noop }],
  ];
  for (const [name, handle] of shapes) {
    it(`falls back, with one warning, for ${name}`, () => {
      const logger = new RecordingLogger();
      const server = serverWithHandle(handle);
      assert.notEqual(directReadShape(server), null);
      assert.equal(acceptDirect(server, options(logger)), false);
      const warnings = logger.all(FALLBACK);
      assert.equal(warnings.length, 1);
      assert.equal(warnings[0]?.level, 'warn');
      assert.equal(typeof warnings[0]?.fields.differs, 'string');
      if (handle !== null && typeof handle === 'object' && 'onconnection' in handle) {
        assert.equal(
          handle.onconnection,
          (server as Server & { _handle: { onconnection: unknown } })._handle.onconnection,
          'node:net is left as it was',
        );
      }
    });
  }

  it('--direct-read off and ECHOD_DIRECT_READ=off set directRead: false; on (the default) sets true', () => {
    assert.equal(resolveCliConfig(parseCommandLine(['--direct-read', 'off'], {}), {}).resolved.directRead, false);
    assert.equal(resolveCliConfig(parseCommandLine([], { ECHOD_DIRECT_READ: 'off' }), {}).resolved.directRead, false);
    assert.equal(resolveCliConfig(parseCommandLine(['--direct-read', 'on'], {}), {}).resolved.directRead, true);
    assert.equal(resolveCliConfig(parseCommandLine([], {}), {}).resolved.directRead, true);
    assert.throws(() => parseCommandLine(['--direct-read', 'maybe'], {}), /invalid --direct-read/);
  });

  it('directRead: false serves through node:net as usual, without a warning', async () => {
    const logger = new RecordingLogger();
    const server = createEchoServer({ host: HOST, port: 0, directRead: false, logger });
    const { port } = await server.listen();
    try {
      const client = await Client.connect(port);
      await client.write('hello\n');
      assert.equal(await client.readText('hello\n'), 'hello\n');
      client.destroy();
      assert.equal(logger.all(FALLBACK).length, 0);
    } finally {
      await server.close();
    }
  });
});
