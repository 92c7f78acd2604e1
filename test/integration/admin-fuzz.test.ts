// Hostile input on the admin port, property-based, over real loopback sockets: odd and overlong
// methods, targets (traversal, %-encoding, huge queries, every URL key with odd values, control
// and non-UTF-8 bytes), header floods, repeated and oversized headers, Content-Length /
// Transfer-Encoding combinations and smuggling shapes, pipelined bursts, partial requests then
// a close, a trickle, an HTTP/2 preface, TLS ClientHello bytes, random binary, and more
// connections than the cap. For every case:
// - each answer is well-formed HTTP/1.1 of bounded size, with the status the request deserves
//   (404, 405, 400, 431, 408…), and nothing follows an answer that says `connection: close`;
// - no request smuggled in a body is ever answered;
// - nothing the client sent comes back: the marker in targets and headers never appears in a
//   response, and the only HTML is the static status page with its Content-Security-Policy;
// - the admin connection count returns to 0, and the close reason and status codes counted in
//   echod_admin_connections_closed_total and echod_admin_requests_total are exactly this case's;
// - afterwards, GET /healthz is 200 and the echo port still echoes.
// The cases it found are kept first, as plain tests. ECHOD_FUZZ_SEED and ECHOD_FUZZ_RUNS replay
// or widen a run (the seed is in the test's name); ECHOD_FUZZ_SHRINK=1 shrinks a failure.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { AdminCloseReason } from '../../src/observability/admin-limits.js';
import { CONNECTION_SORT_KEYS } from '../../src/observability/status-feed.js';
import { STATUS_HTML } from '../../src/observability/status-page/page.js';
import { STATUS_CSP } from '../../src/observability/status-routes.js';
import { AdminFixture, type AdminCounts, countsDelta, parseResponses, type RawResponse } from '../../testkit/admin-http.js';
import { Client, WAIT_MS } from '../../testkit/clients.js';
import { delay, poll } from '../../testkit/wait.js';

const SEED = Number(process.env.ECHOD_FUZZ_SEED ?? 20261208);
const RUNS = Number(process.env.ECHOD_FUZZ_RUNS ?? 300);
/** Short deadlines so that cases which wait for one (a trickle, a partial head, keep-alive) stay cheap. */
const LIMITS = {
  maxConnections: 8,
  headersTimeoutMs: 300,
  keepAliveTimeoutMs: 300,
  requestTimeoutMs: 2000,
  maxHeaderBytes: 2048,
} as const;
/** A trickle writes one byte this often: any head takes longer than headersTimeoutMs. */
const TRICKLE_GAP_MS = 25;
/** An answer's head (status line and headers) is at most this… */
const MAX_RESPONSE_HEAD_BYTES = 2048;
/** …and its body at most this (the largest is uPlot's script, ~50 KB). */
const MAX_RESPONSE_BODY_BYTES = 256 * 1024;
/** Room for shrinking a failure, and for a run widened with ECHOD_FUZZ_RUNS. */
const TEST_TIMEOUT_MS = Math.max(60_000, RUNS * 200);

const CRLF = '\r\n';

type After = 'end' | 'wait' | 'destroy';
type Delivery = 'whole' | 'chunks' | 'trickle';

/**
 * Hostile inputs the property below found, shrunk, each kept as a plain case: every one failed
 * before the fix named in its commit. The client never closes (`wait`): the server must end
 * the connection itself, so a keep-alive it should not have kept shows as `keep_alive_timeout`.
 */
const FOUND: readonly { name: string; send: string; statuses: readonly number[]; reason: AdminCloseReason }[] = [
  {
    name: 'the absolute form (GET http://host/path) is routed by its path and query; another scheme is not a request line',
    send:
      'GET http://127.0.0.1/healthz HTTP/1.1\r\n\r\nGET http://127.0.0.1:9090/nope?x=1 HTTP/1.1\r\n\r\n' +
      'GET http://h HTTP/1.1\r\n\r\nGET ftp://h/healthz HTTP/1.1\r\n\r\n',
    statuses: [200, 404, 200, 400],
    reason: 'bad_request',
  },
  {
    name: 'Content-Length 26 then 0 announces a body: the GET /metrics smuggled in it is never answered',
    send: 'GET /healthz HTTP/1.1\r\nContent-Length: 26\r\nContent-Length: 0\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n',
    statuses: [400],
    reason: 'bad_request',
  },
  {
    name: 'POST with Content-Length: 0 twice is answered 405 and closed: the request in its body is never answered',
    send: 'POST /../../etc/passwd HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\nGET /metrics?fz HTTP/1.1\r\nHost: x\r\n\r\n',
    statuses: [405],
    reason: 'done',
  },
  {
    name: 'Connection: close then Connection: keep-alive closes the connection (close wins, whichever field comes last)',
    send: 'GET /healthz HTTP/1.1\r\nConnection: close\r\nConnection: keep-alive\r\n\r\n',
    statuses: [200],
    reason: 'done',
  },
  {
    name: 'an HTTP/1.0 POST is answered 405 and closed, as HTTP/1.0 without keep-alive asks',
    send: 'POST /../../etc/passwd HTTP/1.0\r\n\r\n',
    statuses: [405],
    reason: 'done',
  },
  {
    name: 'a POST with Connection: close is answered 405 and closed',
    send: 'POST /healthz HTTP/1.1\r\nConnection: close\r\n\r\n',
    statuses: [405],
    reason: 'done',
  },
  {
    name: 'HTTP/1.0 with Connection: keep-alive, close is closed (close wins)',
    send: 'GET /metrics HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n',
    statuses: [200],
    reason: 'done',
  },
  {
    name: 'a NUL in a header value is answered 400 (RFC 9110 §5.5: reject it or replace it)',
    send: 'GET /connections? HTTP/1.1\r\n&: \u0000\r\n\r\n',
    statuses: [400],
    reason: 'bad_request',
  },
  {
    name: 'other control bytes in a header value (0x01, DEL) are answered 400',
    send: 'GET /healthz HTTP/1.1\r\nX-Ctl: a\u0001\u007fb\r\n\r\n',
    statuses: [400],
    reason: 'bad_request',
  },
  {
    name: 'a TLS ClientHello is answered 400 at once, not 408 at the head deadline',
    send: Buffer.from('160301012c010001280303', 'hex').toString('latin1') + 'x'.repeat(40),
    statuses: [400],
    reason: 'bad_request',
  },
  {
    name: 'a request whose lines end with bare LFs (nc typed by hand) is answered 400 at once, not 408 at the head deadline',
    send: 'GET /healthz HTTP/1.0\n\n',
    statuses: [400],
    reason: 'bad_request',
  },
  {
    name: 'a method longer than 16 letters is answered 400 before its head ends',
    send: `${'A'.repeat(17)} /healthz HTTP/1.1\r\nHost: a`,
    statuses: [400],
    reason: 'bad_request',
  },
];

describe('admin endpoint: hostile input (real sockets)', { timeout: TEST_TIMEOUT_MS }, () => {
  let fixture: AdminFixture;
  let echoes = 0;
  before(async () => {
    fixture = await AdminFixture.start({}, { processMetrics: false }, LIMITS);
  });
  after(async () => {
    await fixture.cleanup();
  });

  /** Waits until no admin connection is open; returns the counters then. */
  async function settled(): Promise<AdminCounts> {
    let counts = await fixture.counts();
    await poll(async () => (counts = await fixture.counts()).active === 0, WAIT_MS, 'the admin connection count to return to 0');
    return counts;
  }

  /** Writes `bytes` whole, in chunks cut at `cuts` (fractions of the length), or a byte every TRICKLE_GAP_MS; stops once the server has closed. */
  async function deliver(client: Client, bytes: Buffer, delivery: Delivery, cuts: readonly number[]): Promise<void> {
    const write = async (data: Buffer): Promise<boolean> => {
      if (client.closed || client.ended) return false;
      await client.write(data).catch(() => {});
      return true;
    };
    if (delivery === 'whole') await write(bytes);
    else if (delivery === 'chunks') {
      const points = [...new Set(cuts.map((at) => Math.floor(at * bytes.length)))].sort((a, b) => a - b);
      let from = 0;
      for (const to of [...points, bytes.length]) {
        if (to > from && !(await write(bytes.subarray(from, to)))) return;
        from = Math.max(from, to);
        await new Promise(setImmediate);
      }
    } else {
      for (let i = 0; i < bytes.length; i++) {
        if (!(await write(bytes.subarray(i, i + 1)))) return;
        await delay(TRICKLE_GAP_MS);
      }
    }
  }

  /**
   * One connection: `bytes` delivered, then a half-close (`end`), nothing (`wait`: the server
   * must close), or a destroy; resolves with the client once it is closed.
   */
  async function exchange(bytes: Buffer, delivery: Delivery, cuts: readonly number[], how: After): Promise<Client> {
    const client = await Client.connect(fixture.adminPort);
    try {
      await deliver(client, bytes, delivery, cuts);
      if (how === 'destroy') client.destroy();
      else {
        if (how === 'end' && !client.closed) client.end();
        await client.waitEndOrClose(WAIT_MS);
        await client.waitClosed(WAIT_MS);
        assert.ok(client.ended, `the server ended the connection with a FIN (${client.error?.code ?? 'no error'})`);
      }
    } finally {
      client.destroy();
    }
    return client;
  }

  /** The process still serves: the admin port's probe, and one line on the echo port. */
  async function stillServing(): Promise<void> {
    const before = await fixture.counts();
    const health = await fixture.get('/healthz').catch(async (err: unknown) => {
      throw new Error(
        `GET /healthz failed (${String(err)}); admin counters moved by ${JSON.stringify(countsDelta(before, await settled()))}`,
      );
    });
    assert.equal(health.status, 200);
    assert.equal(health.body, 'ok\n');
    const line = `still echoing ${++echoes}\n`;
    const client = await Client.connect(fixture.echo.port);
    try {
      await client.write(line);
      assert.equal(await client.readText(line), line);
    } finally {
      client.destroy();
    }
  }

  for (const found of FOUND) {
    it(found.name, async () => {
      const before = await settled();
      const client = await exchange(Buffer.from(found.send, 'latin1'), 'whole', [], 'wait');
      assert.deepEqual(
        parseResponses(client.take()).map((response) => response.status),
        found.statuses,
      );
      const delta = countsDelta(before, await settled());
      assert.deepEqual(delta.closed, { [found.reason]: 1 });
      await stillServing();
    });
  }

  function checkAnswers(responses: RawResponse[], want: Expected, how: After, mark: string, raw: Buffer): void {
    assert.ok(!raw.includes(mark), `the marker ${mark} came back in a response`);
    const statuses = responses.map((response) => response.status);
    const wanted = want.answers.map((a) => a.status);
    if (how === 'destroy')
      assert.deepEqual(statuses, wanted.slice(0, statuses.length), 'the answers seen before the close are the first ones due');
    else assert.deepEqual(statuses, wanted, 'one answer per request, each with its status');
    responses.forEach((response, i) => {
      const due = want.answers[i] as Answer;
      assert.ok(response.headBytes <= MAX_RESPONSE_HEAD_BYTES, `answer ${i}: head of ${response.headBytes} bytes`);
      assert.ok(response.body.length <= MAX_RESPONSE_BODY_BYTES, `answer ${i}: body of ${response.body.length} bytes`);
      const type = response.headers.get('content-type') ?? '';
      assert.ok(type !== '', `answer ${i} has a content-type`);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', `answer ${i} may not be sniffed as another type`);
      if (/html/i.test(type)) {
        assert.equal(response.headers.get('content-security-policy'), STATUS_CSP, 'HTML goes out with the CSP');
        if (!due.bodyless) assert.equal(response.body.toString('utf8'), STATUS_HTML, 'the only HTML is the static status page');
      } else {
        assert.ok(!response.body.includes('<script'), `answer ${i} (${type}) holds no markup`);
      }
      if (due.status === 405) assert.equal(response.headers.get('allow'), 'GET, HEAD');
      const connection = response.headers.get('connection');
      if (due.closes !== null) assert.equal(connection, 'close', `answer ${i} (${due.status}) says the connection closes`);
      // A FIN that arrives while the last answer is on its way may turn it into the closing one.
      else if (!(how === 'end' && i === responses.length - 1)) assert.equal(connection, 'keep-alive', `answer ${i} keeps the connection`);
    });
  }

  function checkCounts(delta: ReturnType<typeof countsDelta>, want: Expected, how: After, seen: number[]): void {
    const codes: Record<string, number> = {};
    for (const status of seen) codes[status] = (codes[status] ?? 0) + 1;
    if (how === 'destroy') {
      // The server may have answered more than the client read before it went.
      const answered = Object.values(delta.requests).reduce((a, b) => a + b, 0);
      const due: Record<string, number> = {};
      for (const a of want.answers.slice(0, answered)) due[a.status] = (due[a.status] ?? 0) + 1;
      assert.deepEqual(delta.requests, due, 'requests_total counts the answers due, in order');
      const [reason, ...others] = Object.keys(delta.closed);
      assert.equal(others.length, 0, `one close counted: ${JSON.stringify(delta.closed)}`);
      assert.ok(
        reason === want.reason || reason === 'client_closed' || reason === 'bad_request',
        `closed as ${String(reason)} (due: ${want.reason}, or the client's own close)`,
      );
      return;
    }
    assert.deepEqual(delta.requests, codes, 'echod_admin_requests_total counts exactly the answers sent');
    assert.deepEqual(delta.closed, { [want.reason]: 1 }, 'echod_admin_connections_closed_total counts the bound that applied');
  }

  /** One exchange's connection: its answers checked; resolves with what was due and the statuses seen. */
  async function answersOf(c: Exchange, mark: string): Promise<{ want: Expected; seen: number[] }> {
    const bytes = Buffer.from(c.requests.map(serialize).join('') + c.tail, 'latin1');
    const want: Expected =
      c.delivery === 'trickle'
        ? { answers: [{ status: 408, bodyless: false, closes: 'headers_timeout' }], reason: 'headers_timeout' }
        : expected(c);
    const raw = (await exchange(bytes, c.delivery, c.cuts, c.after)).take();
    const responses = parseResponses(raw, (i) => want.answers[i]?.bodyless ?? false);
    checkAnswers(responses, want, c.after, mark, raw);
    return { want, seen: responses.map((r) => r.status) };
  }

  async function runExchange(c: Exchange, mark: string, baseline: AdminCounts): Promise<void> {
    const { want, seen } = await answersOf(c, mark);
    checkCounts(countsDelta(baseline, await settled()), want, c.after, seen);
  }

  /** Exchanges at once: each answered as if alone, and the counters sum theirs exactly. */
  async function runParallel(exchanges: readonly Exchange[], mark: string, baseline: AdminCounts): Promise<void> {
    const results = await Promise.all(exchanges.map((c) => answersOf(c, mark)));
    const closed: Record<string, number> = {};
    const requests: Record<string, number> = {};
    for (const { want, seen } of results) {
      closed[want.reason] = (closed[want.reason] ?? 0) + 1;
      for (const status of seen) requests[status] = (requests[status] ?? 0) + 1;
    }
    const delta = countsDelta(baseline, await settled());
    assert.deepEqual(delta.requests, requests, 'echod_admin_requests_total counts every answer of every connection');
    assert.deepEqual(delta.closed, closed, 'echod_admin_connections_closed_total counts each connection once, by the bound that applied');
  }

  async function runFlood(extra: number, baseline: AdminCounts): Promise<void> {
    const parked: Client[] = [];
    try {
      for (let i = 0; i < LIMITS.maxConnections + extra; i++) parked.push(await Client.connect(fixture.adminPort));
      const probe = await fixture.get('/healthz');
      assert.equal(probe.status, 200, 'a probe gets through a full cap');
    } finally {
      for (const client of parked) client.destroy();
    }
    const delta = countsDelta(baseline, await settled());
    assert.deepEqual(delta.requests, { 200: 1 });
    const { evicted = 0, done = 0, client_closed: gone = 0, headers_timeout: timedOut = 0, ...others } = delta.closed;
    assert.deepEqual(others, {}, 'closes: evicted, done, client_closed or headers_timeout only (never refused)');
    assert.equal(done, 1, "the probe's own close");
    assert.ok(evicted >= 1 && evicted <= extra + 1, `${evicted} evicted for ${extra + 1} over the cap`);
    assert.equal(evicted + gone + timedOut, LIMITS.maxConnections + extra, 'every parked socket counted once');
  }

  it(
    `${RUNS} hostile cases (seed ${SEED}): well-formed bounded answers, no reflection, every close counted, still serving`,
    { timeout: TEST_TIMEOUT_MS },
    async () => {
      await fc.assert(
        fc.asyncProperty(hostile, async ({ c, mark }) => {
          const baseline = await settled();
          if (c.kind === 'flood') await runFlood(c.extra, baseline);
          else if (c.kind === 'parallel') await runParallel(c.exchanges, mark, baseline);
          else await runExchange(c, mark, baseline);
          await stillServing();
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: process.env.ECHOD_FUZZ_SHRINK !== '1', includeErrorInReport: true },
      );
    },
  );
});

/** Paths that answer 200 to GET and HEAD whatever the query. */
const OK_PATHS = [
  '/metrics',
  '/healthz',
  '/readyz',
  '/stats',
  '/',
  '/status',
  '/status/app.js',
  '/status/app.css',
  '/status/uplot.min.js',
  '/status/uplot.min.css',
  '/api/status',
] as const;
const PAGED_PATHS = ['/connections', '/api/connections'] as const;
const URL_KEYS = ['limit', 'offset', 'sort', 'order'] as const;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A field value: HTAB, SP, visible ASCII and obs-text (RFC 9110 §5.5); no other control byte. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const ORIGIN_FORM = /^(\/[\x21-\x7e]*|\*)$/;
/** The absolute form (RFC 9112 §3.2.2), routed by its path and query. */
const ABSOLUTE_FORM = /^https?:\/\/[\x21-\x7e]+$/;

/** What is routed: the target itself, or the absolute form's path and query. */
function originOf(target: string): string {
  if (!ABSOLUTE_FORM.test(target)) return target;
  const rest = target.replace(/^https?:\/\/[^/?]*/, '');
  return rest.startsWith('/') ? rest : `/${rest}`;
}

// ---------------------------------------------------------------- the model of a request

interface Header {
  /** The whole line as sent, without its line end (an obs-fold line starts with SP or HTAB). */
  line: string;
  name: string;
  value: string;
}

interface Request {
  /** Blank lines before the request line (RFC 9112 §2.2 lets a server skip them). */
  lead: string;
  method: string;
  target: string;
  version: string;
  /** Between method, target and version: one SP unless hostile. */
  sep: string;
  headers: Header[];
  /** Line end of every line of the head: CRLF unless hostile. */
  eol: string;
  /** Bytes after the head (a body, or a request smuggled in one). */
  body: string;
}

/** What the endpoint must answer to one request, and whether the connection ends after it. */
interface Answer {
  status: number;
  /** The answer has no body (it answers a HEAD). */
  bodyless: boolean;
  /** The reason the connection closes after this answer, or null if it stays open. */
  closes: AdminCloseReason | null;
}

function serialize(request: Request): string {
  const lines = [[request.method, request.target, request.version].join(request.sep), ...request.headers.map((header) => header.line)];
  return request.lead + lines.map((line) => line + request.eol).join('') + request.eol + request.body;
}

/** The head the server sees: from the first byte that is not a leading CRLF to the first CRLFCRLF. */
function headOf(bytes: string): { start: number; end: number } {
  let start = 0;
  while (bytes.startsWith(CRLF, start)) start += CRLF.length;
  return { start, end: bytes.indexOf(CRLF + CRLF, start) };
}

function values(request: Request, name: string): string[] {
  return request.headers
    .filter((header) => header.name.toLowerCase() === name)
    .map((header) => header.value.replace(/^[ \t]+|[ \t]+$/g, ''));
}

/** A body follows the head unless there is no Transfer-Encoding and at most one Content-Length, of 0. */
function announcesBody(request: Request): boolean {
  const lengths = values(request, 'content-length');
  return values(request, 'transfer-encoding').length > 0 || !(lengths.length === 0 || (lengths.length === 1 && lengths[0] === '0'));
}

/** The rule the endpoint documents, restated: what a complete head deserves. */
function answer(request: Request): Answer {
  const valid =
    request.sep === ' ' &&
    request.eol === CRLF &&
    /^[A-Z]{1,16}$/.test(request.method) &&
    (ORIGIN_FORM.test(request.target) || ABSOLUTE_FORM.test(request.target)) &&
    /^HTTP\/1\.[01]$/.test(request.version) &&
    request.headers.every(
      (header) => TOKEN.test(header.name) && FIELD_VALUE.test(header.value) && header.line === `${header.name}: ${header.value}`,
    );
  if (!valid) return { status: 400, bodyless: false, closes: 'bad_request' };
  const hasBody = announcesBody(request);
  const tokens = values(request, 'connection').flatMap((value) =>
    value
      .toLowerCase()
      .split(',')
      .map((token) => token.trim()),
  );
  const keepAlive = !tokens.includes('close') && (request.version === 'HTTP/1.1' || tokens.includes('keep-alive'));
  const closes: AdminCloseReason | null = keepAlive ? null : 'done';
  if (request.method !== 'GET' && request.method !== 'HEAD') return { status: 405, bodyless: false, closes: hasBody ? 'done' : closes };
  const bodyless = request.method === 'HEAD';
  if (hasBody) return { status: 400, bodyless, closes: 'bad_request' };
  return { status: routeStatus(originOf(request.target)), bodyless, closes };
}

function routeStatus(target: string): number {
  const question = target.indexOf('?');
  const path = question < 0 ? target : target.slice(0, question);
  const query = new URLSearchParams(question < 0 ? '' : target.slice(question + 1));
  const whole = (key: string, digits: number, min: number): boolean => {
    const text = query.get(key);
    return text === null || text === '' || (new RegExp(`^\\d{1,${digits}}$`).test(text) && Number(text) >= min);
  };
  if ((OK_PATHS as readonly string[]).includes(path)) return 200;
  if (path === '/connections') return whole('limit', 15, 1) && whole('offset', 15, 0) ? 200 : 400;
  if (path === '/api/connections') {
    const sort = query.get('sort') ?? 'id';
    const order = query.get('order') ?? 'asc';
    const sorted = (CONNECTION_SORT_KEYS as readonly string[]).includes(sort) && (order === 'asc' || order === 'desc');
    return sorted && whole('limit', 9, 1) && whole('offset', 9, 0) ? 200 : 400;
  }
  return 404;
}

// ---------------------------------------------------------------- a case and what it deserves

interface Exchange {
  kind: 'exchange';
  what: string;
  requests: Request[];
  /** Raw bytes after the requests: the start of one more, cut short, or junk. */
  tail: string;
  delivery: Delivery;
  /** Cut points for 'chunks' (fractions of the length). */
  cuts: number[];
  after: After;
}

interface Flood {
  kind: 'flood';
  what: string;
  /** Silent sockets beyond the cap. */
  extra: number;
}

interface Parallel {
  kind: 'parallel';
  what: string;
  /** Exchanges on as many connections at once, none destroyed by the client (so every count is exact). */
  exchanges: Exchange[];
}

type Case = Exchange | Flood | Parallel;

interface Expected {
  answers: Answer[];
  /** Why the connection closes. */
  reason: AdminCloseReason;
}

/** What the endpoint must answer, request by request, when the bytes arrive within the head deadline. */
function expected(exchange: Exchange): Expected {
  const answers: Answer[] = [];
  let rest = exchange.requests.map(serialize).join('') + exchange.tail;
  for (;;) {
    const { start, end } = headOf(rest);
    if (hopeless(rest.slice(start, end < 0 ? undefined : end).slice(0, LIMITS.maxHeaderBytes)))
      return closing(answers, { status: 400, bodyless: false, closes: 'bad_request' });
    if (end < 0) {
      const left = rest.length - start;
      if (left > LIMITS.maxHeaderBytes) return closing(answers, { status: 431, bodyless: false, closes: 'header_too_large' });
      if (exchange.after === 'wait') {
        if (left > 0) return closing(answers, { status: 408, bodyless: false, closes: 'headers_timeout' });
        // Blank lines alone begin a head (they are skipped, nothing is left to answer); nothing at all is a keep-alive wait.
        return { answers, reason: answers.length === 0 || rest.length > 0 ? 'headers_timeout' : 'keep_alive_timeout' };
      }
      return { answers, reason: left > 0 ? 'bad_request' : 'client_closed' };
    }
    if (end - start > LIMITS.maxHeaderBytes) return closing(answers, { status: 431, bodyless: false, closes: 'header_too_large' });
    // The request this head belongs to: the generator never lets a CRLFCRLF fall inside a head,
    // so heads and requests line up; a head found in junk or a smuggled body is not a request.
    const request = requestAt(exchange, answers.length);
    const next = request === null ? { status: 400, bodyless: false, closes: 'bad_request' as const } : answer(request);
    answers.push(next);
    if (next.closes !== null) return { answers, reason: next.closes };
    rest = rest.slice(end + 2 * CRLF.length);
  }
}

/**
 * A head (or what has come of it) that can never become a request, refused 400 as soon as
 * it shows: it does not begin with an upper-case method of at most 16 letters and a space, or a
 * line ends with a bare LF. A lone CR may still become a skipped blank line.
 */
function hopeless(head: string): boolean {
  return head !== '\r' && (!/^([A-Z]{1,16} |[A-Z]{0,16}$)/.test(head) || /(^|[^\r])\n/.test(head));
}

function closing(answers: Answer[], last: Answer): Expected {
  return { answers: [...answers, last], reason: last.closes as AdminCloseReason };
}

function requestAt(exchange: Exchange, index: number): Request | null {
  return exchange.requests[index] ?? null;
}

// ---------------------------------------------------------------- generators

const marker = fc.stringMatching(/^[a-z0-9]{8}$/).map((id) => `fz${id}`);

const oddValue = fc.oneof(
  fc.constantFrom(
    '',
    '0',
    '1',
    '-1',
    '+1',
    ' 1',
    '1.5',
    '1e3',
    '0x10',
    'NaN',
    'Infinity',
    '99999999999999999999',
    '1000001',
    '٣',
    'asc',
    'desc',
    'id',
    'remote',
    'DESC',
    '%',
    '%zz',
    '%00',
    '\u0000',
    '<script>',
  ),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.nat({ max: 5000 }).map(String),
);

/** `?key=value&…` with the URL keys the endpoint reads (and others), raw or %-encoded. */
const query = fc
  .array(
    fc.tuple(
      fc.oneof(fc.constantFrom(...URL_KEYS), fc.string({ unit: 'binary-ascii', maxLength: 6 })),
      oddValue,
      fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    ),
    {
      maxLength: 5,
    },
  )
  .map((pairs) =>
    pairs.map(([key, value, raw]) => (raw ? `${key}=${utf8(value)}` : `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)).join('&'),
  );

/** Text as the bytes of its UTF-8 encoding, one char per byte (requests go out as latin1). */
const utf8 = (text: string): string => noCrlf(Buffer.from(text, 'utf8').toString('latin1'));
/** Latin-1 text (one byte per char), never containing CRLF: a CRLFCRLF inside a head would end it early. */
const noCrlf = (text: string): string => text.replace(/\r\n/g, '\r ');
const visible = (max: number): fc.Arbitrary<string> => fc.stringMatching(new RegExp(`^[\\x21-\\x7e]{0,${max}}$`));
const bytesText = (max: number): fc.Arbitrary<string> =>
  fc.uint8Array({ maxLength: max }).map((bytes) => noCrlf(Buffer.from(bytes).toString('latin1')));

const target = (mark: string): fc.Arbitrary<string> =>
  fc.oneof(
    {
      weight: 8,
      arbitrary: fc.tuple(fc.constantFrom(...OK_PATHS, ...PAGED_PATHS), query).map(([path, q]) => (q === '' ? path : `${path}?${q}`)),
    },
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...PAGED_PATHS), query).map(([path, q]) => `${path}?${q}`) },
    {
      weight: 4,
      arbitrary: fc.constantFrom(
        '/../../etc/passwd',
        '/%2e%2e/%2e%2e/etc/passwd',
        '/healthz/../metrics',
        '//healthz',
        '/./healthz',
        '/HEALTHZ',
        '/healthz/',
        '/healthz%00',
        '/healthz;x',
        '/healthz#frag',
        '/%68ealthz',
        '/status/../../package.json',
        '/status/%2e%2e/%2e%2e/package.json',
        '*',
        '/?',
        '/??',
        '/api/status?<script>alert(1)</script>',
      ),
    },
    { weight: 4, arbitrary: visible(40).map((rest) => `/${mark}/<script>${rest}`) },
    { weight: 2, arbitrary: fc.nat({ max: 2500 }).map((n) => `/metrics?q=${mark}${'x'.repeat(n)}`) },
    // Not origin-form (absolute form is routed by its path; the rest is refused), or bytes a request-target never holds.
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.constantFrom(
          '',
          'healthz',
          'http://127.0.0.1/healthz',
          'http://127.0.0.1:9090/connections?limit=2',
          'https://admin.example',
          'http://x?y=1',
          'HTTP://127.0.0.1/healthz',
          'ftp://127.0.0.1/healthz',
          '?x',
          `/${mark} /x`,
          '/\u0000',
          '/\u007f',
          '/caf\u00e9',
          '/\u00ff\u00fe',
        ),
        fc.tuple(fc.constantFrom(...OK_PATHS), bytesText(8)).map(([path, junk]) => `${path}${mark}${junk}`),
      ),
    },
  );

const method = fc.oneof(
  { weight: 40, arbitrary: fc.constantFrom('GET', 'HEAD') },
  { weight: 4, arbitrary: fc.constantFrom('POST', 'PUT', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT', 'PATCH', 'PRI') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,16}$/) },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{17,64}$/) },
  { weight: 1, arbitrary: fc.constantFrom('get', 'GeT', '', 'GET\u0000', 'G-T', 'GET1', '\u00c9T\u00c9') },
  { weight: 1, arbitrary: bytesText(20) },
);

const version = fc.oneof(
  { weight: 30, arbitrary: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0') },
  {
    weight: 1,
    arbitrary: fc.constantFrom('HTTP/2.0', 'HTTP/1.2', 'HTTP/0.9', 'HTTP/1.10', 'http/1.1', 'HTTP/1.1 ', 'HTTP/1', 'HTTP/11', ''),
  },
);

const header = (name: string, value: string): Header => ({ line: `${name}: ${value}`, name, value });

/** Content-Length and Transfer-Encoding fields, alone, together, repeated, obfuscated. */
const framing = fc.oneof(
  { weight: 4, arbitrary: fc.constant<[string, string][]>([]) },
  {
    weight: 1,
    arbitrary: fc.array(
      fc.oneof(
        fc.tuple(
          fc.constantFrom('Content-Length', 'content-length', 'CONTENT-LENGTH'),
          fc.constantFrom(
            '0',
            '0',
            '0',
            '5',
            '26',
            '00',
            '-0',
            '+0',
            ' 0',
            '0 ',
            '\t0',
            '0, 0',
            '0,5',
            '1e2',
            '0x0',
            '',
            '99999999999999999999',
          ),
        ),
        fc.tuple(
          fc.constantFrom('Transfer-Encoding', 'transfer-encoding'),
          fc.constantFrom('chunked', 'identity', ' chunked', 'gzip, chunked', 'xchunked', 'chunked, identity', ''),
        ),
      ),
      { minLength: 1, maxLength: 3 },
    ),
  },
);

const headers = (mark: string): fc.Arbitrary<Header[]> =>
  fc
    .tuple(
      fc.boolean(),
      fc.option(
        fc.constantFrom('close', 'keep-alive', 'Close', 'KEEP-ALIVE', 'upgrade', 'close, keep-alive', 'keep-alive, close', '', 'closed'),
        { freq: 2 },
      ),
      framing,
      fc.array(
        fc.oneof(
          {
            weight: 6,
            arbitrary: fc
              .tuple(fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,20}$/), fc.stringMatching(/^[\t\x20-\x7e]{0,30}$/))
              .map(([n, v]) => header(n, noCrlf(v))),
          },
          { weight: 6, arbitrary: visible(30).map((v) => header('X-Fuzz', `${mark}<script>${v}`)) },
          // obs-text (bytes 0x80-0xff) is allowed in a value: non-UTF-8 that must not come back either.
          {
            weight: 2,
            arbitrary: bytesText(30).map((v) => header('X-Bytes', `${mark}${[...v].filter((ch) => FIELD_VALUE.test(ch)).join('')}`)),
          },
          { weight: 2, arbitrary: fc.nat({ max: 2500 }).map((n) => header('X-Big', `${mark}${'a'.repeat(n)}`)) },
          // Not a field line: no name, a name with bytes outside token, an obs-fold.
          {
            weight: 1,
            arbitrary: fc.constantFrom<Header>(
              { line: ': empty', name: '', value: 'empty' },
              { line: 'Bad Name: x', name: 'Bad Name', value: 'x' },
              { line: 'X-\u00e9: x', name: 'X-\u00e9', value: 'x' },
              { line: 'Content-Length : 5', name: 'Content-Length ', value: '5' },
              { line: ' folded', name: '', value: 'folded' },
              { line: '\tfolded', name: '', value: 'folded' },
              { line: 'no colon', name: '', value: '' },
              { line: 'X-Nul: a\u0000b', name: 'X-Nul', value: 'a\u0000b' },
              { line: 'X-Ctl: a\u0001\u007fb', name: 'X-Ctl', value: 'a\u0001\u007fb' },
              { line: 'X-Cr: a\rb', name: 'X-Cr', value: 'a\rb' },
              { line: 'X-Lf: a\nb', name: 'X-Lf', value: 'a\nb' },
            ),
          },
        ),
        { maxLength: 4 },
      ),
      fc.oneof({ weight: 5, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.nat({ max: 300 }) }),
    )
    .map(([host, connection, frames, others, flood]) => [
      ...(host ? [header('Host', '127.0.0.1')] : []),
      ...(connection === null ? [] : [header('Connection', connection)]),
      ...frames.map(([name, value]) => header(name, value)),
      ...others,
      ...(flood > 0 ? Array.from({ length: flood }, (_, i) => header(`X-Flood-${i % 3}`, 'y')) : []),
    ]);

const request = (mark: string): fc.Arbitrary<Request> =>
  fc
    .record({
      lead: fc.constantFrom('', '', '', '', CRLF, CRLF + CRLF),
      method,
      target: target(mark),
      version,
      sep: fc.oneof({ weight: 30, arbitrary: fc.constant(' ') }, { weight: 1, arbitrary: fc.constantFrom('  ', '\t') }),
      headers: headers(mark),
      eol: fc.oneof({ weight: 30, arbitrary: fc.constant(CRLF) }, { weight: 1, arbitrary: fc.constant('\n') }),
      smuggled: fc.constantFrom(
        `GET /metrics?${mark} HTTP/1.1\r\nHost: x\r\n\r\n`,
        `0\r\n\r\nGET /stats?${mark} HTTP/1.1\r\n\r\n`,
        `1a\r\nGET /healthz HTTP/1.1\r\n\r\n\r\n0\r\n\r\n`,
      ),
    })
    .map(({ smuggled, ...parts }) => {
      const request: Request = { ...parts, method: noCrlf(parts.method), target: noCrlf(parts.target), body: '' };
      // A body only where one is announced (after `Content-Length: 0` the next bytes are the next
      // request); a bare-LF head never ends, so whatever follows is part of it.
      if (request.eol === CRLF && announcesBody(request)) request.body = smuggled;
      return request;
    });

/** Bytes that are not HTTP/1.x at all. */
const junk = fc.oneof(
  // A TLS ClientHello's record header and start (TLS 1.0 record, 1.2 hello), then random bytes.
  fc
    .uint8Array({ minLength: 40, maxLength: 300 })
    .map((rest) => Buffer.concat([Buffer.from('160301012c010001280303', 'hex'), Buffer.from(rest)]).toString('latin1')),
  // The HTTP/2 connection preface and an empty SETTINGS frame.
  fc.constant(`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n${Buffer.from('000000040000000000', 'hex').toString('latin1')}`),
  fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  fc.string({ unit: 'binary-ascii', maxLength: 200 }),
  fc.nat({ max: 3000 }).map((n) => 'A'.repeat(n)),
  fc.constantFrom('\r\n'.repeat(100), '\n\n\n', 'GET / HTTP/1.1\n\n', 'GET /healthz HTTP/1.0\r\n'),
);

const afterwards = fc.oneof(
  { weight: 6, arbitrary: fc.constant<After>('end') },
  { weight: 1, arbitrary: fc.constant<After>('wait') },
  { weight: 1, arbitrary: fc.constant<After>('destroy') },
);
/** How a connection of a parallel case ends: never destroyed, so its close reason is certain. */
const settledAfter = fc.oneof({ weight: 3, arbitrary: fc.constant<After>('end') }, { weight: 1, arbitrary: fc.constant<After>('wait') });
const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 });

/** A burst of requests, maybe ending with one cut short. */
const burst = (mark: string, how: fc.Arbitrary<After>): fc.Arbitrary<Exchange> =>
  fc
    .record({
      requests: fc.array(request(mark), { minLength: 0, maxLength: 6 }),
      partial: fc.option(fc.tuple(request(mark), fc.double({ min: 0, max: 1, noNaN: true })), { freq: 3 }),
      delivery: fc.constantFrom<Delivery>('whole', 'whole', 'chunks'),
      cuts,
      after: how,
    })
    .map(({ requests, partial, delivery, cuts: at, after: then }): Exchange => {
      let tail = '';
      if (partial !== null) {
        // Cut inside the head, past its leading blank lines, so it is a head begun and never ended.
        const bytes = serialize(partial[0]);
        const { start, end } = headOf(bytes);
        const stop = end < 0 ? bytes.length : end + 3;
        tail = bytes.slice(0, start + 1 + Math.floor(partial[1] * (stop - start - 1)));
      }
      return { kind: 'exchange', what: 'requests', requests, tail, delivery, cuts: at, after: then };
    });

/** Bytes that are not HTTP/1.x, whole or in chunks. */
const junkExchange = (how: fc.Arbitrary<After>): fc.Arbitrary<Exchange> =>
  fc.tuple(junk, fc.constantFrom<Delivery>('whole', 'chunks'), cuts, how).map(([bytes, delivery, at, then]): Exchange => ({
    kind: 'exchange',
    what: 'junk',
    requests: [],
    tail: bytes,
    delivery,
    cuts: at,
    after: then,
  }));

const hostile: fc.Arbitrary<{ c: Case; mark: string }> = marker.chain((mark) =>
  fc
    .oneof(
      { weight: 16, arbitrary: burst(mark, afterwards) },
      // One request, a byte at a time: slower than the head deadline.
      {
        weight: 1,
        arbitrary: request(mark)
          // Long enough that a byte every TRICKLE_GAP_MS takes well over headersTimeoutMs, and
          // not refused in the bytes that arrive before it (those are 400 at once).
          .filter((one) => {
            const bytes = serialize(one);
            const slow = (3 * LIMITS.headersTimeoutMs) / TRICKLE_GAP_MS;
            return bytes.length >= slow && !hopeless(bytes.slice(headOf(bytes).start).slice(0, slow));
          })
          .map((one): Case => ({
            kind: 'exchange',
            what: 'trickle',
            requests: [one],
            tail: '',
            delivery: 'trickle',
            cuts: [],
            after: 'wait',
          })),
      },
      { weight: 4, arbitrary: junkExchange(afterwards) },
      { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 }).map((extra): Case => ({ kind: 'flood', what: 'flood', extra })) },
      // Several of the above at once, each on its own connection: one never changes another's answers.
      {
        weight: 2,
        arbitrary: fc
          .array(fc.oneof({ weight: 3, arbitrary: burst(mark, settledAfter) }, { weight: 1, arbitrary: junkExchange(settledAfter) }), {
            minLength: 2,
            maxLength: 4,
          })
          .map((exchanges): Case => ({ kind: 'parallel', what: 'parallel', exchanges })),
      },
    )
    .map((c) => ({ c, mark })),
);
