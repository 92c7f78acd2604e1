// `--listen URL` parsing: every form the module documents, IPv6 brackets, Unix paths, the
// query options, each refusal (always a ListenUrlError with code ERR_ECHOD_LISTEN_URL), and
// properties: arbitrary text never throws anything else, and formatListener's output parses
// back to the listener it describes.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { main } from '../../src/cli/main.js';
import {
  boundListenerName,
  formatListener,
  type ListenerOptions,
  type ListenerProtocol,
  ListenUrlError,
  parseListenUrl,
} from '../../src/config/listen-url.js';

const TEST_TIMEOUT_MS = 10_000;
const PROPERTY_TIMEOUT_MS = 30_000;

function refused(text: string): ListenUrlError {
  let caught: unknown;
  try {
    parseListenUrl(text);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ListenUrlError, `${JSON.stringify(text)} is refused with a ListenUrlError (got ${String(caught)})`);
  assert.equal(caught.code, 'ERR_ECHOD_LISTEN_URL');
  return caught;
}

describe('parseListenUrl', () => {
  describe('the documented forms', () => {
    const cases: [string, ListenerOptions][] = [
      ['tcp://0.0.0.0:8080', { protocol: 'tcp', host: '0.0.0.0', port: 8080 }],
      ['tcp://[::]:8080', { protocol: 'tcp', host: '::', port: 8080 }],
      ['tls://:8443', { protocol: 'tls', port: 8443 }],
      ['udp://[::]:8080', { protocol: 'udp', host: '::', port: 8080 }],
      ['unix:///run/echod.sock', { protocol: 'unix', path: '/run/echod.sock' }],
      ['tcp://:7000?mode=raw&proxy=optional', { protocol: 'tcp', port: 7000, mode: 'raw', proxyProtocol: 'optional' }],
      ['http://:8081', { protocol: 'http', port: 8081 }],
      ['https://[::1]:8444', { protocol: 'https', host: '::1', port: 8444 }],
      ['http+unix:///run/echod-http.sock', { protocol: 'http', path: '/run/echod-http.sock' }],
      ['https+unix:///run/echod-https.sock', { protocol: 'https', path: '/run/echod-https.sock' }],
      ['ws+unix:///run/echod-http.sock', { protocol: 'http', path: '/run/echod-http.sock' }],
      ['wss+unix:///run/echod-https.sock', { protocol: 'https', path: '/run/echod-https.sock' }],
      ['http+unix:///run/echod.sock?proxy=required', { protocol: 'http', path: '/run/echod.sock', proxyProtocol: 'required' }],
      ['http+unix:///tmp/echo%20d.sock', { protocol: 'http', path: '/tmp/echo d.sock' }],
    ];
    for (const [text, expected] of cases) {
      it(text, { timeout: TEST_TIMEOUT_MS }, () => {
        assert.deepEqual(parseListenUrl(text), expected);
      });
    }
  });

  describe('addresses', () => {
    const cases: [string, ListenerOptions][] = [
      ['tcp://127.0.0.1:0', { protocol: 'tcp', host: '127.0.0.1', port: 0 }],
      ['tcp://[::1]:65535', { protocol: 'tcp', host: '::1', port: 65_535 }],
      ['tls://[2001:db8::7]:443', { protocol: 'tls', host: '2001:db8::7', port: 443 }],
      ['udp://[::ffff:127.0.0.1]:7', { protocol: 'udp', host: '::ffff:127.0.0.1', port: 7 }],
      ['tcp://localhost:7000', { protocol: 'tcp', host: 'localhost', port: 7000 }],
      ['tcp://echo.example.com:7', { protocol: 'tcp', host: 'echo.example.com', port: 7 }],
      ['tcp://:00080', { protocol: 'tcp', port: 80 }],
      ['  tcp://:7000\n', { protocol: 'tcp', port: 7000 }],
      ['unix:///tmp/echo%20d.sock', { protocol: 'unix', path: '/tmp/echo d.sock' }],
      [
        'unix:///run/echod.sock?mode=raw&proxy=required',
        { protocol: 'unix', path: '/run/echod.sock', mode: 'raw', proxyProtocol: 'required' },
      ],
    ];
    for (const [text, expected] of cases) {
      it(JSON.stringify(text), { timeout: TEST_TIMEOUT_MS }, () => {
        assert.deepEqual(parseListenUrl(text), expected);
      });
    }
  });

  describe('options', () => {
    it('mode=line and mode=raw', { timeout: TEST_TIMEOUT_MS }, () => {
      assert.equal(parseListenUrl('tcp://:1?mode=line').mode, 'line');
      assert.equal(parseListenUrl('tcp://:1?mode=raw').mode, 'raw');
      assert.equal(parseListenUrl('tcp://:1').mode, undefined, 'absent: the server default applies');
    });

    it('proxy=off, optional and required on stream listeners', { timeout: TEST_TIMEOUT_MS }, () => {
      for (const mode of ['off', 'optional', 'required'] as const) {
        assert.equal(parseListenUrl(`tcp://:1?proxy=${mode}`).proxyProtocol, mode);
        assert.equal(parseListenUrl(`unix:///s?proxy=${mode}`).proxyProtocol, mode);
        assert.equal(parseListenUrl(`tls://:1?proxy=${mode}`).proxyProtocol, mode);
      }
      assert.equal(parseListenUrl('tcp://:1').proxyProtocol, undefined);
    });

    it('udp takes proxy=off (and nothing else)', { timeout: TEST_TIMEOUT_MS }, () => {
      assert.deepEqual(parseListenUrl('udp://:9?proxy=off'), { protocol: 'udp', port: 9, proxyProtocol: 'off' });
      refused('udp://:9?proxy=optional');
      refused('udp://:9?proxy=required');
    });

    it('an empty query is no options', { timeout: TEST_TIMEOUT_MS }, () => {
      assert.deepEqual(parseListenUrl('tcp://:9?'), { protocol: 'tcp', port: 9 });
    });
  });

  describe('refusals', () => {
    const bad = [
      '',
      'tcp:',
      'tcp://',
      'ftp://:80',
      'TCP://:80',
      'tcp:/:80',
      'tcp://:',
      'tcp://127.0.0.1',
      'tcp://127.0.0.1:',
      'tcp://:http',
      'tcp://:-1',
      'tcp://:65536',
      'tcp://:99999',
      'tcp://:123456',
      'tcp://::1:80',
      'tcp://2001:db8::1:80',
      'tcp://[::1]80',
      'tcp://[::1]',
      'tcp://[127.0.0.1]:80',
      'tcp://[not-an-address]:80',
      'tcp://[]:80',
      'tcp://[::1:80',
      'unix://',
      'unix://run/echod.sock',
      'unix://./echod.sock',
      'tcp://:80?mode=fast',
      'tcp://:80?mode=',
      'tcp://:80?proxy=yes',
      'tcp://:80?proxy=',
      'tcp://:80?backlog=10',
      'tcp://:80?mode=raw&timeout=1',
      'unix:///s?proxy=always',
      'http+unix://',
      'http+unix://run/echod.sock',
      'http+unix://127.0.0.1:80',
      'tcp+unix:///run/echod.sock',
      'unix+unix:///run/echod.sock',
      'udp+unix:///run/echod.sock',
      'HTTP+UNIX:///run/echod.sock',
      'http+unix:///run/echod.sock?mode=raw',
    ];
    for (const text of bad) {
      it(`refuses ${JSON.stringify(text)}`, { timeout: TEST_TIMEOUT_MS }, () => {
        refused(text);
      });
    }

    it('the message names the URL it refuses', { timeout: TEST_TIMEOUT_MS }, () => {
      assert.match(refused('tcp://:80?colour=blue').message, /colour/);
      assert.match(refused('gopher://:70').message, /gopher/);
    });

    it('an IPv6 address without brackets gets the URL with them', { timeout: TEST_TIMEOUT_MS }, () => {
      assert.match(refused('tcp://::1:7060').message, /: put an IPv6 address in brackets: tcp:\/\/\[::1\]:7060$/);
      assert.match(
        refused('udp://2001:db8::1:80?proxy=off').message,
        /: put an IPv6 address in brackets: udp:\/\/\[2001:db8::1\]:80\?proxy=off$/,
      );
      assert.match(refused('tcp://::').message, /: put an IPv6 address in brackets and add a port: tcp:\/\/\[::\]:PORT$/);
      assert.match(refused('tcp://127.0.0.1').message, /: expected HOST:PORT, \[IPv6\]:PORT or :PORT$/);
      const suggested = /: put an IPv6 address in brackets: (\S+)$/.exec(refused('http://::1:8081').message)?.[1] ?? '';
      assert.deepEqual(parseListenUrl(suggested), { protocol: 'http', host: '::1', port: 8081 }, 'the suggestion parses');
    });

    it('a key given twice is refused, naming the key, whatever its values', { timeout: TEST_TIMEOUT_MS }, () => {
      for (const text of [
        'tcp://127.0.0.1:8080?mode=raw&mode=line',
        'tcp://:80?mode=raw&mode=raw',
        'udp://:80?proxy=off&proxy=off',
        'http://:80?delay=1ms&delay=2ms',
      ]) {
        const err = refused(text);
        assert.match(err.message, /: (mode|proxy|delay) given twice; give each key once$/, text);
      }
    });

    it('a malformed %-escape in a unix path is a ListenUrlError', { timeout: TEST_TIMEOUT_MS }, () => {
      refused('unix:///tmp/%zz.sock');
    });
  });

  describe('properties', () => {
    it('never throws anything but ListenUrlError', { timeout: PROPERTY_TIMEOUT_MS }, () => {
      // Text built from the URL's own pieces finds the parser's corners faster than random text.
      // '%' is left out: a malformed escape is the known bug above.
      const piece = fc.constantFrom(
        'tcp://',
        'tls://',
        'udp://',
        'unix://',
        '/',
        ':',
        '[',
        ']',
        '::',
        '1',
        '65535',
        '65536',
        '127.0.0.1',
        'localhost',
        '?',
        '&',
        '=',
        'mode',
        'raw',
        'line',
        'proxy',
        'optional',
        'required',
        'off',
        ' ',
        '\n',
      );
      const text = fc.oneof(
        fc.array(piece, { maxLength: 12 }).map((parts) => parts.join('')),
        fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('%')),
      );
      fc.assert(
        fc.property(text, (input) => {
          try {
            const parsed = parseListenUrl(input);
            assert.ok(parsed.protocol !== undefined);
          } catch (err) {
            if (!(err instanceof ListenUrlError) || err.code !== 'ERR_ECHOD_LISTEN_URL') throw err;
          }
        }),
        { numRuns: 5000 },
      );
    });

    it('formatListener output parses back to the same listener', { timeout: PROPERTY_TIMEOUT_MS }, () => {
      const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain(), fc.constantFrom('0.0.0.0', '::', 'localhost'));
      const network = fc.record({
        protocol: fc.constantFrom<ListenerProtocol>('tcp', 'tls', 'udp'),
        host,
        port: fc.integer({ min: 0, max: 65_535 }),
        path: fc.constant(''),
      });
      const segment = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);
      const unix = fc.record({
        protocol: fc.constantFrom<ListenerProtocol>('unix', 'http', 'https'),
        host: fc.constant(''),
        port: fc.constant(0),
        path: fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => `/${parts.join('/')}`),
      });
      fc.assert(
        fc.property(fc.oneof(network, unix), (listener) => {
          const url = formatListener(listener);
          const parsed = parseListenUrl(url);
          if (listener.path !== '') {
            assert.deepEqual(parsed, { protocol: listener.protocol, path: listener.path }, url);
          } else {
            assert.deepEqual(parsed, { protocol: listener.protocol, host: listener.host, port: listener.port }, url);
          }
        }),
        { numRuns: 2000 },
      );
    });

    it('every well-formed URL parses to its parts', { timeout: PROPERTY_TIMEOUT_MS }, () => {
      const query = fc.record({
        mode: fc.option(fc.constantFrom<'line' | 'raw'>('line', 'raw'), { nil: undefined }),
        proxy: fc.option(fc.constantFrom<'off' | 'optional' | 'required'>('off', 'optional', 'required'), { nil: undefined }),
      });
      fc.assert(
        fc.property(
          fc.constantFrom<'tcp' | 'tls'>('tcp', 'tls'),
          fc.oneof(fc.ipV4(), fc.ipV6()),
          fc.integer({ min: 0, max: 65_535 }),
          query,
          (protocol, host, port, { mode, proxy }) => {
            const params = [mode !== undefined ? `mode=${mode}` : '', proxy !== undefined ? `proxy=${proxy}` : ''].filter((p) => p !== '');
            const url = `${protocol}://${host.includes(':') ? `[${host}]` : host}:${port}${params.length > 0 ? `?${params.join('&')}` : ''}`;
            const expected: ListenerOptions = { protocol, host, port };
            if (mode !== undefined) expected.mode = mode;
            if (proxy !== undefined) expected.proxyProtocol = proxy;
            assert.deepEqual(parseListenUrl(url), expected, url);
          },
        ),
        { numRuns: 2000 },
      );
    });
  });
});

describe('formatListener', () => {
  it('brackets IPv6 hosts and writes unix paths as given', { timeout: TEST_TIMEOUT_MS }, () => {
    assert.equal(formatListener({ protocol: 'tcp', host: '0.0.0.0', port: 8080, path: '' }), 'tcp://0.0.0.0:8080');
    assert.equal(formatListener({ protocol: 'udp', host: '::1', port: 7, path: '' }), 'udp://[::1]:7');
    assert.equal(formatListener({ protocol: 'tls', host: 'localhost', port: 8443, path: '' }), 'tls://localhost:8443');
    assert.equal(formatListener({ protocol: 'unix', host: '0.0.0.0', port: 8080, path: '/run/echod.sock' }), 'unix:///run/echod.sock');
    assert.equal(formatListener({ protocol: 'http', host: '0.0.0.0', port: 8080, path: '/run/h.sock' }), 'http+unix:///run/h.sock');
    assert.equal(formatListener({ protocol: 'https', host: '0.0.0.0', port: 8080, path: '/run/s.sock' }), 'https+unix:///run/s.sock');
    assert.equal(formatListener({ protocol: 'http', host: '::', port: 8081, path: '' }), 'http://[::]:8081');
  });

  it('names an inherited socket by the scheme of its listener', { timeout: TEST_TIMEOUT_MS }, () => {
    const inherited = { host: '', port: 0, path: '', fd: 3 };
    assert.equal(boundListenerName({ ...inherited, protocol: 'tcp' }, { path: '/run/a.sock' }), 'unix:///run/a.sock (fd 3)');
    assert.equal(boundListenerName({ ...inherited, protocol: 'http' }, { path: '/run/a.sock' }), 'http+unix:///run/a.sock (fd 3)');
    assert.equal(boundListenerName({ ...inherited, protocol: 'http' }, { address: '::1', port: 80 }), 'http://[::1]:80 (fd 3)');
  });
});

describe('--listen on the command line', () => {
  it('a bad URL exits 2 naming --listen, before anything listens', { timeout: TEST_TIMEOUT_MS }, async () => {
    let stderr = '';
    let stdout = '';
    const code = await main(['--listen', 'tcp://:80', '--listen', 'tcp://[::1]:99999'], {
      env: {},
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: (text: string) => (stderr += text) },
      signals: new EventEmitter(),
    });
    assert.equal(code, 2);
    assert.match(stderr, /--listen/);
    assert.match(stderr, /99999/);
    assert.equal(stdout, '', 'nothing was started or logged');
  });
});
