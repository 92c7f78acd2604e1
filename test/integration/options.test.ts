// Options are checked once, at the boundary: every bad value and every unknown option is an
// InvalidOptionError (code ERR_ECHOD_INVALID_OPTION) naming the option; lifecycle misuse is a
// ServerStateError (code ERR_ECHOD_SERVER_STATE). Tests assert codes and fields, not wording.
import { HTTP_DEFAULTS } from '../../src/config/http-options.js';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostname } from 'node:os';
import { EchodError, InvalidOptionError, ServerStateError } from '../../src/core/errors.js';
import { DEFAULTS, type EchoServerOptions, resolveOptions } from '../../src/config/options.js';
import { createEchoServer } from '../../src/server/server.js';
import { HOST } from '../../testkit/clients.js';

const TEST_TIMEOUT_MS = 5000;

/** Deliberately ill-typed options, as a JavaScript caller could pass them. */
function untyped(options: unknown): EchoServerOptions {
  return options as EchoServerOptions;
}

/** [option, bad value] pairs: each must be refused, naming that option. */
const BAD_VALUES: [string, unknown][] = [
  ['host', ''],
  ['host', 'not a host!'],
  ['host', 42],
  ['port', -1],
  ['port', 65_536],
  ['port', 80.5],
  ['port', '8080'],
  ['port', Number.NaN],
  ['mode', 'udp'],
  ['mode', 'LINE'],
  ['maxLineBytes', 0],
  ['maxLineBytes', -1],
  ['maxLineBytes', 2 ** 30 + 1],
  ['maxLineBytes', Number.POSITIVE_INFINITY],
  ['maxConnections', -1],
  ['maxConnections', 1.5],
  ['maxConnectionsPerIp', -1],
  ['idleTimeoutMs', -1],
  ['idleTimeoutMs', 2 ** 31], // Node's timers cannot hold it
  ['writeStallTimeoutMs', '30s'],
  ['drainTimeoutMs', -5],
  ['shutdownDelayMs', null],
  ['backlog', 0],
  ['backlog', 65_536],
  ['noDelay', 'yes'],
  ['noDelay', 1],
  ['logger', {}],
  ['logger', console.log],
  ['logger', null],
];

/** Asserts `fn` throws InvalidOptionError for `option` (and, if given, carrying `value`). */
function assertInvalid(fn: () => unknown, option: string, expected?: { value: unknown }): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidOptionError, `expected InvalidOptionError, got ${String(err)}`);
    assert.ok(err instanceof EchodError);
    assert.equal(err.code, 'ERR_ECHOD_INVALID_OPTION');
    assert.equal(err.option, option);
    if (expected !== undefined) assert.equal(err.value, expected.value);
    return true;
  });
}

function label(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string' || (typeof value === 'object' && value !== null)) return JSON.stringify(value);
  return String(value);
}

describe('options', () => {
  describe('refused values', () => {
    for (const [option, value] of BAD_VALUES) {
      it(`${option}: ${label(value)}`, () => {
        assertInvalid(() => resolveOptions(untyped({ [option]: value })), option, { value });
        assertInvalid(() => createEchoServer(untyped({ host: HOST, [option]: value })), option, { value });
      });
    }
  });

  it('an unknown (say, misspelt) option is refused, named as spelt', () => {
    assertInvalid(() => resolveOptions(untyped({ maxLineByte: 1024 })), 'maxLineByte', { value: 1024 });
    assertInvalid(() => createEchoServer(untyped({ idleTimeout: 5000 })), 'idleTimeout', { value: 5000 });
  });

  it('options that are not an object are refused', () => {
    assertInvalid(() => resolveOptions(untyped(null)), 'options');
    assertInvalid(() => resolveOptions(untyped('port=80')), 'options');
  });

  it('with several bad options, the error names one of them', () => {
    assert.throws(
      () => createEchoServer(untyped({ host: HOST, port: 0, maxLineBytes: 0, backlog: 0 })),
      (err: unknown) => err instanceof InvalidOptionError && ['maxLineBytes', 'backlog'].includes(err.option),
    );
  });

  it('no options at all resolve to the documented defaults', () => {
    const { logger, listeners, tls, http, ...rest } = resolveOptions();
    assert.deepEqual(rest, { ...DEFAULTS, serverId: hostname() }, 'serverId defaults to the host name, read when resolving');
    assert.deepEqual(http, HTTP_DEFAULTS);
    assert.deepEqual(listeners, [
      {
        protocol: 'tcp',
        host: DEFAULTS.host,
        port: DEFAULTS.port,
        path: '',
        mode: DEFAULTS.mode,
        proxyProtocol: 'off',
        fd: null,
        faults: null,
      },
    ]);
    assert.equal(tls, null);
    assert.equal(logger.isLevelEnabled('info'), false, 'the library logs nothing unless given a logger');
  });

  it('undefined means "the default", and the boundary values are accepted', () => {
    const resolved = resolveOptions(
      untyped({ port: undefined, maxLineBytes: 1, maxConnections: 0, idleTimeoutMs: 2 ** 31 - 1, backlog: 65_535 }),
    );
    assert.equal(resolved.port, DEFAULTS.port);
    assert.equal(resolved.maxLineBytes, 1);
    assert.equal(resolved.maxConnections, 0);
    assert.equal(resolved.idleTimeoutMs, 2 ** 31 - 1);
    for (const host of ['127.0.0.1', '::1', 'localhost', 'echo.example.com']) {
      assert.equal(resolveOptions({ host }).host, host);
    }
  });

  it('a server keeps its resolved options, frozen', () => {
    const server = createEchoServer({ host: HOST, port: 0, maxLineBytes: 64 });
    assert.equal(server.options.maxLineBytes, 64);
    assert.equal(server.options.idleTimeoutMs, DEFAULTS.idleTimeoutMs);
    assert.ok(Object.isFrozen(server.options));
  });
});

describe('lifecycle misuse', () => {
  it('listen() twice throws ServerStateError', { timeout: TEST_TIMEOUT_MS }, async () => {
    const server = createEchoServer({ host: HOST, port: 0 });
    try {
      await server.listen();
      const second = server.listen();
      await assert.rejects(second, (err: unknown) => {
        assert.ok(err instanceof ServerStateError);
        assert.ok(err instanceof EchodError);
        assert.equal(err.code, 'ERR_ECHOD_SERVER_STATE');
        return true;
      });
      assert.equal(server.state, 'listening', 'the failed call changed nothing');
    } finally {
      await server.close();
    }
  });

  it('listen() after close() throws ServerStateError', { timeout: TEST_TIMEOUT_MS }, async () => {
    const server = createEchoServer({ host: HOST, port: 0 });
    await server.listen();
    await server.close();
    await assert.rejects(server.listen(), { code: 'ERR_ECHOD_SERVER_STATE' });
  });

  it('listen() on a port in use rejects with the system error, and the server is closed', { timeout: TEST_TIMEOUT_MS }, async () => {
    const holder = createEchoServer({ host: HOST, port: 0 });
    const { port } = await holder.listen();
    try {
      const server = createEchoServer({ host: HOST, port });
      await assert.rejects(server.listen(), { code: 'EADDRINUSE' });
      assert.equal(server.state, 'closed');
      await server.close();
    } finally {
      await holder.close();
    }
  });
});
