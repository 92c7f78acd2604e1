// Environment variables and flag values as a person writes them (issue 16, Messages): errors
// name the variable that was wrong, every boolean takes the same spellings, an unknown ECHOD_*
// variable is warned about, negative numbers get echod's own message, and settings that do
// nothing here are warned about (or refused where they contradict).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveCliConfig } from '../../src/cli/config.js';
import { parseCommandLine } from '../../src/cli/flags.js';
import { UsageError } from '../../src/core/errors.js';
import { HOST } from '../../testkit/clients.js';
import { EchodProcess, LEVEL } from '../../testkit/echod-process.js';

function config(argv: string[], env: Record<string, string> = {}): ReturnType<typeof resolveCliConfig> {
  return resolveCliConfig(parseCommandLine(argv, env), env);
}

function refusal(argv: string[], env: Record<string, string> = {}): string {
  try {
    config(argv, env);
  } catch (err) {
    assert.ok(err instanceof UsageError, String(err));
    return err.message;
  }
  assert.fail(`accepted: ${argv.join(' ')} ${JSON.stringify(env)}`);
}

describe('messages name what the person set', () => {
  it('ECHOD_PORT=70000 names ECHOD_PORT, --port 70000 names --port', () => {
    assert.match(refusal([], { ECHOD_PORT: '70000' }), /^invalid ECHOD_PORT: 70000/);
    assert.match(refusal(['--port', '70000']), /^invalid --port: 70000/);
    assert.match(refusal([], { ECHOD_HOST: 'no such host!' }), /^invalid ECHOD_HOST:/);
  });

  it('ECHOD_LISTEN errors name ECHOD_LISTEN; a comma between listeners gets the separator that works', () => {
    assert.equal(
      refusal([], { ECHOD_LISTEN: 'tcp://:8080,udp://:8080' }),
      'invalid ECHOD_LISTEN: "tcp://:8080,udp://:8080": expected HOST:PORT, [IPv6]:PORT or :PORT (separate listeners with spaces in ECHOD_LISTEN)',
    );
    assert.match(refusal(['--listen', 'tcp://:8080,udp://:8080']), /^invalid --listen: .* \(give --listen once per listener\)$/);
    assert.doesNotMatch(refusal([], { ECHOD_LISTEN: 'tcp://:99999' }), /separate/);
    // The space-separated form the message asks for is accepted.
    assert.deepEqual(
      config([], { ECHOD_LISTEN: 'tcp://127.0.0.1:0 udp://127.0.0.1:0' }).resolved.listeners.map((listener) => listener.protocol),
      ['tcp', 'udp'],
    );
    // A listener's field refused by the library, and a warning about a URL, name the variable too.
    assert.match(refusal([], { ECHOD_LISTEN: 'tcp://bad!host:80' }), /^invalid ECHOD_LISTEN tcp:\/\/bad!host:80: /);
    assert.deepEqual(config([], { ECHOD_LISTEN: 'udp://127.0.0.1:0?mode=raw' }).warnings, [
      'ECHOD_LISTEN udp://127.0.0.1:0?mode=raw: ?mode has no effect on udp (every datagram is echoed whole)',
    ]);
  });

  it('a template with an unknown placeholder is refused listing the placeholders there are', () => {
    const message = refusal(['--banner', '{nope} {HOSTNAME}']);
    assert.match(message, /^invalid --banner: "\{nope\} \{HOSTNAME\}" \(expected only the placeholders .*; not \{nope\}, \{HOSTNAME\}\)$/);
    for (const placeholder of ['{hostname}', '{server_id}', '{proxy_source}', '{env:NAME}'])
      assert.ok(message.includes(placeholder), placeholder);
    assert.match(refusal([], { ECHOD_PREFIX: '{env:my-var}' }), /^invalid ECHOD_PREFIX: .*\{hostname\} \{pid\}/);
    // Placeholders that happen to be library option names are quoted as the person wrote them, not as flags.
    assert.match(
      refusal(['--banner', '{serverId} {maxConnections}']),
      /^invalid --banner: "\{serverId\} \{maxConnections\}" .*; not \{serverId\}, \{maxConnections\}\)$/,
    );
  });

  it('an unknown flag names the one a typo away; a missing value and a value given to a switch say what to write', () => {
    assert.equal(refusal(['--prot', '80']), 'unknown option --prot (did you mean --port?)');
    assert.equal(refusal(['--max-conections', '5']), 'unknown option --max-conections (did you mean --max-connections?)');
    assert.equal(refusal(['--no-such-flag']), 'unknown option --no-such-flag');
    assert.equal(refusal(['--host', '127.0.0.1', '--port']), '--port needs a value: --port PORT');
    assert.equal(refusal(['--ws-deflate=yes']), '--ws-deflate takes no value: write it alone');
    assert.deepEqual(config([], { ECHOD_PROT: '1' }).warnings, [
      'ECHOD_PROT is not a variable echod reads (did you mean ECHOD_PORT?); it is ignored',
    ]);
  });

  it('--port -1 and --max-line-bytes -5 get echod\'s message, not "ambiguous"', () => {
    assert.equal(refusal(['--port', '-1']), 'invalid --port: "-1" (expected a whole number ≥ 0)');
    assert.match(refusal(['--max-line-bytes', '-5']), /^invalid --max-line-bytes: "-5" \(expected a size/);
  });

  it('every boolean variable takes the same spellings', () => {
    for (const text of ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off']) {
      const on = /^(true|1|yes|on)$/.test(text);
      const hang = config([], { ECHOD_ACCEPT_THEN_HANG: text });
      assert.equal(hang.resolved.listeners[0]?.faults?.acceptThenHang === true, on, `ECHOD_ACCEPT_THEN_HANG=${text}`);
      assert.equal(
        parseCommandLine([], { ECHOD_TLS_SELF_SIGNED: text }).values.get('tls-self-signed') === true,
        on,
        `ECHOD_TLS_SELF_SIGNED=${text}`,
      );
    }
    assert.match(refusal([], { ECHOD_ACCEPT_THEN_HANG: 'maybe' }), /^invalid ECHOD_ACCEPT_THEN_HANG: "maybe" \(expected true or false\)/);
    assert.match(refusal([], { ECHOD_TLS_SELF_SIGNED: 'maybe' }), /^invalid ECHOD_TLS_SELF_SIGNED: "maybe" \(expected true or false\)/);
  });

  it('an unknown ECHOD_* variable is warned about, with the likely meant one; the ones echod sets are not', () => {
    const { warnings } = config([], { ECHOD_PORTT: '9000', ECHOD_WORKER_INDEX: '1', ECHOD_WORKER_PORT: '9000' });
    assert.deepEqual(warnings, ['ECHOD_PORTT is not a variable echod reads (did you mean ECHOD_PORT?); it is ignored']);
  });
});

describe('settings that do nothing are warned about; contradictions are refused', () => {
  const warned = (argv: string[], env: Record<string, string> = {}): string[] => config(argv, env).warnings;

  it('--port with --listen', () => {
    assert.deepEqual(warned(['--port', '9000', '--listen', 'tcp://127.0.0.1:0']), [
      '--port has no effect with --listen or socket activation (each listener names its own port)',
    ]);
    assert.deepEqual(warned(['--port', '9000']), []);
  });

  it('admin flags without --admin-port (or ECHOD_ADMIN_PORT): there is no admin endpoint', () => {
    assert.deepEqual(warned(['--admin-host', '0.0.0.0', '--admin-max-connections', '8']), [
      '--admin-host has no effect: there is no admin endpoint (set --admin-port)',
      '--admin-max-connections has no effect: there is no admin endpoint (set --admin-port)',
    ]);
    assert.deepEqual(warned(['--admin-port', '0', '--admin-host', '127.0.0.1', '--admin-max-connections', '8']), []);
    assert.deepEqual(warned(['--admin-max-connections', '8'], { ECHOD_ADMIN_PORT: '0' }), []);
  });

  it('TLS flags with no tls listener', () => {
    assert.deepEqual(warned(['--tls-self-signed', '--tls-min-version', 'TLSv1.3']), [
      '--tls-min-version has no effect: there is no tls:// or https:// listener',
      '--tls-self-signed has no effect: there is no tls:// or https:// listener',
    ]);
  });

  it('https:// (and wss://) listeners take the TLS flags: no warning, and no start without a certificate', () => {
    for (const url of ['https://127.0.0.1:0', 'wss://127.0.0.1:0']) {
      assert.deepEqual(warned(['--listen', url, '--tls-self-signed', '--tls-min-version', 'TLSv1.3']), [], url);
      assert.equal(config(['--listen', url, '--tls-self-signed']).resolved.tls?.selfSigned, true, url);
      assert.match(refusal(['--listen', url]), /^a tls:\/\/ or https:\/\/ listener needs a certificate/, url);
    }
  });

  it('stream-only flags with only udp:// (or http://) listeners', () => {
    assert.deepEqual(
      warned(['--listen', 'udp://127.0.0.1:0', '--digest', 'sha256', '--max-line-bytes', '64KiB', '--idle-timeout', '1m'], {
        ECHOD_BANNER: 'hi',
      }),
      [
        '--max-line-bytes has no effect: there is no tcp://, tls:// or unix:// listener',
        '--idle-timeout has no effect: there is no tcp://, tls://, unix://, http:// or https:// listener',
        'ECHOD_BANNER has no effect: there is no tcp://, tls:// or unix:// listener',
        '--digest has no effect: there is no tcp://, tls:// or unix:// listener',
      ],
    );
    // http listeners have connections (so --idle-timeout acts) but no line framing.
    assert.deepEqual(warned(['--listen', 'http://127.0.0.1:0', '--max-line-bytes', '64KiB', '--idle-timeout', '1m']), [
      '--max-line-bytes has no effect: there is no tcp://, tls:// or unix:// listener',
    ]);
    assert.deepEqual(warned(['--listen', 'udp://127.0.0.1:0', '--listen', 'tcp://127.0.0.1:0', '--digest', 'sha256']), []);
    assert.deepEqual(warned(['--udp-rate-per-source', '5']), ['--udp-rate-per-source has no effect: there is no udp:// listener']);
  });

  it('HTTP flags with no http or https listener; ECHOD_ variables set them, and errors name them', () => {
    assert.deepEqual(warned(['--max-body-bytes', '1KiB', '--ws-deflate']), [
      '--max-body-bytes has no effect: there is no http:// or https:// listener',
      '--ws-deflate has no effect: there is no http:// or https:// listener',
    ]);
    assert.deepEqual(warned(['--listen', 'ws://127.0.0.1:0', '--max-body-bytes', '1KiB']), []);
    const fromEnv = config(['--listen', 'http://127.0.0.1:0'], {
      ECHOD_MAX_BODY_BYTES: '2KiB',
      ECHOD_HTTP_CONTROLS: 'off',
      ECHOD_HTTP_MAX_REQUESTS_PER_CONNECTION: '3',
      ECHOD_MAX_WS_MESSAGE_BYTES: '4096',
    });
    assert.deepEqual(
      [
        fromEnv.resolved.http.maxBodyBytes,
        fromEnv.resolved.http.controls,
        fromEnv.resolved.http.maxRequestsPerConnection,
        fromEnv.resolved.http.maxWsMessageBytes,
      ],
      [2048, false, 3, 4096],
    );
    assert.match(
      refusal(['--listen', 'http://127.0.0.1:0', '--http-headers-timeout', '0']),
      /^invalid --http-headers-timeout: 0 \(expected an integer from 1/,
    );
    assert.match(refusal(['--listen', 'http://127.0.0.1:0'], { ECHOD_HTTP2_MAX_STREAMS: '0' }), /^invalid ECHOD_HTTP2_MAX_STREAMS: 0/);
    assert.match(refusal(['--http-controls', 'maybe']), /^invalid --http-controls: "maybe" \(expected on, off\)/);
  });

  it('fault flags reach http listeners when the table gives them an HTTP meaning, the others tcp ones only, with a warning', () => {
    const both = config([
      '--listen',
      'tcp://127.0.0.1:0',
      '--listen',
      'http://127.0.0.1:0',
      '--delay',
      '10ms',
      '--chunk',
      '100',
      '--refuse-rate',
      '0.5',
    ]);
    const [tcp, http] = both.resolved.listeners;
    assert.deepEqual(tcp?.faults?.delayMs, [10, 10]);
    assert.equal(tcp?.faults?.chunkBytes, 100);
    assert.equal(tcp?.faults?.refuseRate, 0.5);
    assert.deepEqual(http?.faults?.delayMs, [10, 10]);
    assert.equal(http?.faults?.chunkBytes, undefined);
    assert.equal(http?.faults?.refuseRate, 0.5);
    assert.deepEqual(both.warnings, [
      '--chunk has no effect on http:// and https:// listeners (they take --delay, --throttle, --close-after, --refuse-rate only)',
    ]);
    assert.deepEqual(config(['--listen', 'http://127.0.0.1:0', '--refuse-rate', '0.5', '--delay', '5ms']).warnings, []);
  });

  it('--tls-cert with --tls-self-signed is refused', () => {
    assert.match(
      refusal(['--listen', 'tls://127.0.0.1:0', '--tls-self-signed', '--tls-cert', '/x', '--tls-key', '/y']),
      /^--tls-self-signed contradicts --tls-cert/,
    );
  });

  it('--proxy-protocol with only tls listeners', () => {
    assert.deepEqual(warned(['--listen', 'tls://127.0.0.1:0', '--tls-self-signed', '--proxy-protocol', 'optional']), [
      '--proxy-protocol has no effect: it applies to tcp://, unix:// and http:// listeners (tls:// and https:// ones take ?proxy=)',
    ]);
  });

  it('?mode=line on udp', () => {
    assert.deepEqual(warned(['--listen', 'udp://127.0.0.1:0?mode=line']), [
      '--listen udp://127.0.0.1:0?mode=line: ?mode has no effect on udp (every datagram is echoed whole)',
    ]);
  });

  it('{env:NAME} in a template with NAME unset', () => {
    assert.deepEqual(warned(['--banner', 'hi from {env:POD_NAME}']), [
      '--banner uses {env:POD_NAME}, but POD_NAME is not set: it expands to nothing',
    ]);
    assert.deepEqual(warned(['--banner', 'hi from {env:POD_NAME}'], { POD_NAME: 'echod-0' }), []);
  });
});

describe('the real binary', () => {
  it('logs the warnings at start-up, and ECHOD_ACCEPT_THEN_HANG=false serves', { timeout: 20_000 }, async () => {
    const proc = new EchodProcess('node', ['--host', HOST, '--port', '0', '--log-format', 'json'], {
      ECHOD_PORTT: '1',
      ECHOD_ACCEPT_THEN_HANG: 'false',
    });
    try {
      await proc.line('listening');
      const warning = await proc.log((line) => line.level === LEVEL.warn, 'a warning');
      assert.equal(warning.msg, 'ECHOD_PORTT is not a variable echod reads (did you mean ECHOD_PORT?); it is ignored');
    } finally {
      await proc.stop();
    }
  });
});
