/**
 * The cases `echod check` runs on an `http://`/`https://` target (echod's JSON document and raw
 * echo) and on a `ws://`/`wss://` one (the WebSocket echo). Each opens its own connections and
 * closes them; a body or message that comes back different is a FAIL with the first difference.
 */
import type { WebSocket } from 'ws';
import { count, difference } from '../format.js';
import {
  nextMessage,
  notHttpReason,
  openWebSocket,
  type WebAgent,
  webAgent,
  webRequest,
  type WebResponse,
  type WebTarget,
} from '../web.js';
import { type CheckCase, type CheckSettings, fail, type Outcome, pass, required, unreachable } from './case.js';
import { connectErrorText, stopReason } from '../connect-errors.js';

/** How many requests the keep-alive case sends on its one connection. */
const KEEP_ALIVE_REQUESTS = 3;
/** Messages the ordering case sends at once. */
const WS_MANY = 100;
const UTF8_TEXT = 'echod check: héllo, wörld ✓';

function webOf(settings: CheckSettings): WebTarget {
  if (settings.web === null) throw new Error('a web case without a URL target');
  return settings.web;
}

/** Every byte value, `times` times over. */
function allBytes(times: number): Buffer {
  const out = Buffer.alloc(256 * times);
  for (let i = 0; i < out.length; i++) out[i] = i % 256;
  return out;
}

/** The target's path without its query, with our query appended. */
function pathWith(target: WebTarget, query: string): string {
  const at = target.path.indexOf('?');
  return `${at === -1 ? target.path : target.path.slice(0, at)}?${query}`;
}

/** Runs `fn` with a keep-alive agent; a connection that cannot be made stops the run (unreachable). */
async function withAgent(
  settings: CheckSettings,
  sockets: number,
  fn: (agent: WebAgent, target: WebTarget) => Promise<Outcome>,
): Promise<Outcome> {
  const target = webOf(settings);
  const agent = webAgent(target, sockets);
  try {
    return await fn(agent, target);
  } catch (err) {
    return failed(err, target);
  } finally {
    agent.destroy();
  }
}

/** A request or an upgrade that failed: a connect that could not be made, or an answer that is not HTTP, stops the run. */
function failed(err: unknown, target: WebTarget): Outcome {
  const error = err as NodeJS.ErrnoException;
  const notHttp = notHttpReason(error, target);
  if (notHttp !== null) return unreachable(`${error.code ?? ''}: ${notHttp}`, notHttp, true);
  const reason = connectErrorText(error);
  const stop = stopReason(error);
  return stop !== null ? unreachable(`cannot connect: ${reason}`, stop.why, stop.reached) : fail(reason);
}

interface EchoDocumentShape {
  method?: unknown;
  path?: unknown;
  query?: Record<string, unknown>;
  headers?: unknown;
  body?: { size?: unknown; encoding?: unknown; data?: unknown };
  connection?: { id?: unknown; request?: unknown };
}

function parseDocument(response: WebResponse): EchoDocumentShape | string {
  if (response.status !== 200) return `answered ${response.status} (${response.body.subarray(0, 200).toString('utf8')})`;
  const type = String(response.headers['content-type'] ?? '');
  if (!type.startsWith('application/json')) return `answered ${JSON.stringify(type)}, not application/json`;
  try {
    return JSON.parse(response.body.toString('utf8')) as EchoDocumentShape;
  } catch {
    return `the answer is not JSON: ${JSON.stringify(response.body.subarray(0, 80).toString('utf8'))}`;
  }
}

const httpJson: CheckCase = {
  name: 'http-json',
  title: 'a POST comes back as the JSON document: method, path, query, a header and the body',
  transport: 'http',
  policy: required,
  run: (settings) =>
    withAgent(settings, 1, async (agent, target) => {
      const marker = `check-${process.pid}-${Date.now()}`;
      const path = pathWith(target, 'a=1&a=2&b=x');
      const body = Buffer.from(UTF8_TEXT);
      const doc = parseDocument(
        await webRequest(target, agent, 'POST', path, body, settings.timeoutMs, {
          'x-echod-check': marker,
          'content-type': 'text/plain; charset=utf-8',
        }),
      );
      if (typeof doc === 'string') return fail(doc);
      const wrong: string[] = [];
      if (doc.method !== 'POST') wrong.push(`method ${JSON.stringify(doc.method)}`);
      if (doc.path !== path.slice(0, path.indexOf('?'))) wrong.push(`path ${JSON.stringify(doc.path)}`);
      if (JSON.stringify(doc.query?.a) !== '["1","2"]' || doc.query?.b !== 'x') wrong.push(`query ${JSON.stringify(doc.query)}`);
      const headers = Array.isArray(doc.headers) ? (doc.headers as unknown[]) : [];
      if (!headers.some((pair) => Array.isArray(pair) && String(pair[0]).toLowerCase() === 'x-echod-check' && pair[1] === marker))
        wrong.push('the x-echod-check header is missing');
      if (doc.body?.encoding !== 'utf8' || doc.body.data !== UTF8_TEXT || doc.body.size !== body.length)
        wrong.push(`body ${JSON.stringify(doc.body)}`);
      return wrong.length === 0
        ? pass(`${count(body.length)}-byte body, method, path, repeated query and header all as sent`)
        : fail(`the document differs from the request: ${wrong.join('; ')}`);
    }),
};

const httpKeepAlive: CheckCase = {
  name: 'http-keep-alive',
  title: `${KEEP_ALIVE_REQUESTS} requests on one kept-alive connection are numbered 1, 2, 3 on it`,
  transport: 'http',
  policy: required,
  run: (settings) =>
    withAgent(settings, 1, async (agent, target) => {
      const seen: { id: unknown; request: unknown; port: number }[] = [];
      for (let i = 0; i < KEEP_ALIVE_REQUESTS; i++) {
        const response = await webRequest(target, agent, 'GET', pathWith(target, `n=${i}`), null, settings.timeoutMs);
        const doc = parseDocument(response);
        if (typeof doc === 'string') return fail(`request ${i + 1}: ${doc}`);
        seen.push({ id: doc.connection?.id, request: doc.connection?.request, port: response.localPort });
      }
      const [first] = seen;
      if (seen.some((s) => s.port !== first?.port))
        return fail(`the client could not keep its connection: local ports ${seen.map((s) => s.port).join(', ')}`);
      if (seen.some((s) => s.id !== first?.id))
        return fail(`one connection, but the server numbered it ${seen.map((s) => String(s.id)).join(', ')}`);
      const numbers = seen.map((s) => s.request);
      if (numbers.some((n, i) => n !== i + 1))
        return fail(`request numbers on the connection: ${numbers.map(String).join(', ')} (expected 1, 2, 3)`);
      return pass(`connection ${String(first?.id)}: requests ${numbers.join(', ')}`);
    }),
};

function rawCase(name: string, title: string, payload: (settings: CheckSettings) => Buffer): CheckCase {
  return {
    name,
    title,
    transport: 'http',
    policy: required,
    run: (settings) =>
      withAgent(settings, 1, async (agent, target) => {
        const body = payload(settings);
        const type = 'application/x-echod-check';
        const response = await webRequest(target, agent, 'POST', pathWith(target, 'format=raw'), body, settings.timeoutMs, {
          'content-type': type,
        });
        if (response.status !== 200) return fail(`answered ${response.status}`);
        const diff = difference(body, response.body);
        if (diff !== null) return fail(`the raw echo differs: ${diff.summary}`, diff);
        if (response.headers['content-type'] !== type)
          return fail(`the body came back exact, with content-type ${JSON.stringify(response.headers['content-type'])} instead of ${type}`);
        return pass(`${count(body.length)} bytes came back byte-exact, content type kept`);
      }),
  };
}

const httpRaw = rawCase('http-raw', '?format=raw: every byte value comes back exactly, with its content type', () => allBytes(4));
const httpRawLarge = rawCase('http-raw-large', '?format=raw: a body of --max-size bytes comes back exactly', (settings) =>
  allBytes(Math.ceil(settings.maxSize / 256)).subarray(0, settings.maxSize),
);

/** Runs `fn` on an open WebSocket, closed afterwards; a connection that cannot be made stops the run. */
async function withSocket(settings: CheckSettings, fn: (ws: WebSocket) => Promise<Outcome>): Promise<Outcome> {
  let ws: WebSocket;
  try {
    ws = await openWebSocket(webOf(settings), settings.timeoutMs);
  } catch (err) {
    return failed(err, webOf(settings));
  }
  try {
    return await fn(ws);
  } catch (err) {
    return fail((err as Error).message);
  } finally {
    ws.terminate();
  }
}

function wsEcho(name: string, title: string, message: (settings: CheckSettings) => { data: Buffer; binary: boolean }): CheckCase {
  return {
    name,
    title,
    transport: 'websocket',
    policy: required,
    run: (settings) =>
      withSocket(settings, async (ws) => {
        const sent = message(settings);
        ws.send(sent.data, { binary: sent.binary });
        const got = await nextMessage(ws, settings.timeoutMs);
        const diff = difference(sent.data, got.data);
        if (diff !== null) return fail(`the echo differs: ${diff.summary}`, diff);
        if (got.binary !== sent.binary)
          return fail(`the ${sent.binary ? 'binary' : 'text'} message came back as ${got.binary ? 'binary' : 'text'}`);
        return pass(
          `a ${count(sent.data.length)}-byte ${sent.binary ? 'binary' : 'text'} message came back exact, as ${sent.binary ? 'binary' : 'text'}`,
        );
      }),
  };
}

const wsText = wsEcho('ws-text', 'a text message (UTF-8) comes back as text, exact', () => ({
  data: Buffer.from(UTF8_TEXT),
  binary: false,
}));
const wsBinary = wsEcho('ws-binary', 'a binary message of every byte value comes back as binary, exact', () => ({
  data: allBytes(4),
  binary: true,
}));
const wsLarge = wsEcho('ws-large', 'a binary message of --max-size bytes comes back exact', (settings) => ({
  data: allBytes(Math.ceil(settings.maxSize / 256)).subarray(0, settings.maxSize),
  binary: true,
}));

const wsMany: CheckCase = {
  name: 'ws-many',
  title: `${WS_MANY} messages sent at once, text and binary in turn, come back in order with their opcodes`,
  transport: 'websocket',
  policy: required,
  run: (settings) =>
    withSocket(settings, async (ws) => {
      const got: { data: Buffer; binary: boolean }[] = [];
      const all = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${got.length} of ${WS_MANY} messages came back within ${settings.timeoutMs} ms`)),
          settings.timeoutMs,
        );
        ws.on('message', (data: Buffer, binary: boolean) => {
          got.push({ data, binary });
          if (got.length === WS_MANY) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      for (let i = 0; i < WS_MANY; i++) ws.send(Buffer.from(`message ${i} of ${WS_MANY}`), { binary: i % 2 === 1 });
      await all;
      for (let i = 0; i < WS_MANY; i++) {
        const text = got[i]?.data.toString('utf8');
        if (text !== `message ${i} of ${WS_MANY}`) return fail(`message ${i + 1} came back as ${JSON.stringify(text)}`);
        if (got[i]?.binary !== (i % 2 === 1)) return fail(`message ${i + 1} came back with the wrong opcode`);
      }
      return pass(`all ${WS_MANY} in order, each with its opcode`);
    }),
};

const wsClose: CheckCase = {
  name: 'ws-close',
  title: 'the close handshake: a close 1000 is answered with 1000',
  transport: 'websocket',
  policy: required,
  run: (settings) =>
    withSocket(settings, async (ws) => {
      const closed = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no close frame back within ${settings.timeoutMs} ms`)), settings.timeoutMs);
        ws.once('close', (code: number) => {
          clearTimeout(timer);
          resolve(code);
        });
      });
      ws.close(1000, 'echod check');
      const code = await closed;
      return code === 1000 ? pass('closed with 1000') : fail(`closed with ${code}`);
    }),
};

export const WEB_CASES: readonly CheckCase[] = [httpJson, httpKeepAlive, httpRaw, httpRawLarge, wsText, wsBinary, wsMany, wsLarge, wsClose];
