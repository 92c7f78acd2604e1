/**
 * The tools' HTTP and WebSocket targets: `http://`, `https://`, `ws://`, `wss://` URLs (echod's
 * http and https listeners, or any HTTP echo in front of one), and the clients both tools use on
 * them: node:http(s) with a keep-alive agent (one request at a time per connection, so request
 * numbers on a connection are visible) and the `ws` library.
 */
import { Agent as HttpAgent, type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { WebSocket } from 'ws';
import { UsageError } from '../core/errors.js';
import type { ToolValue } from './flags.js';
import { formatTarget, type TlsSpec, transportFromFlags } from './target.js';

export type WebScheme = 'http' | 'https' | 'ws' | 'wss';

export interface WebTarget {
  scheme: WebScheme;
  /** As written (a name or an address), for reports, SNI and certificate checks. */
  host: string;
  port: number;
  /** The path (and query) the URL named; `/` when none. */
  path: string;
  /** https and wss: how the certificate is checked (--tls-insecure, --tls-ca, --tls-servername). */
  tls: TlsSpec | null;
}

const URL_TARGET_RE = /^(https?|wss?):\/\//i;

/** True when the tool's target is a URL of these schemes. */
export function isWebTarget(text: string | undefined): boolean {
  return text !== undefined && URL_TARGET_RE.test(text);
}

/** `http://host:port/path` and friends; the TLS flags apply to https and wss (--tls and --udp do not). */
export function webTargetFrom(text: string, values: ReadonlyMap<string, ToolValue>): WebTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`invalid target ${JSON.stringify(text)} (expected a URL such as http://127.0.0.1:8081/ or ws://[::1]:8081/)`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase() as WebScheme;
  if (values.get('udp') === true) throw new UsageError(`--udp does not apply to a ${scheme}:// target`);
  if (values.get('tls') === true)
    throw new UsageError(
      `--tls does not apply to a URL target: ${scheme === 'http' || scheme === 'ws' ? `write ${scheme}s://` : 'the scheme says so already'}`,
    );
  const secure = scheme === 'https' || scheme === 'wss';
  let tls: TlsSpec | null = null;
  if (secure) {
    const spec = transportFromFlags(new Map([...values, ['tls', true]]));
    tls = spec.kind === 'tls' ? spec.tls : null;
  } else {
    const tlsOnly = ['tls-insecure', 'tls-ca', 'tls-servername'].find((name) => values.has(name));
    if (tlsOnly !== undefined) throw new UsageError(`--${tlsOnly} applies to https:// and wss:// targets`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port === '' ? (secure ? 443 : 80) : Number(url.port);
  return { scheme, host, port, path: `${url.pathname}${url.search}`, tls };
}

/**
 * Non-null when what answered was not HTTP (node:http's parser, llhttp, failed with an `HPE_`
 * code): the hint, naming the target to give for a plain echo instead.
 */
export function notHttpReason(err: NodeJS.ErrnoException, target: WebTarget): string | null {
  if (err.code?.startsWith('HPE_') !== true) return null;
  const plain = formatTarget(target);
  const instead = target.tls === null ? `for a TCP echo use ${plain} without ${target.scheme}://` : `for a TLS echo use --tls ${plain}`;
  return `the server did not answer HTTP: is it an HTTP port? ${instead}`;
}

export function formatWebTarget(target: WebTarget, path = target.path): string {
  const host = isIP(target.host) === 6 ? `[${target.host}]` : target.host;
  return `${target.scheme}://${host}:${target.port}${path}`;
}

export function webTransportName(target: WebTarget): string {
  const name = target.scheme === 'http' || target.scheme === 'https' ? 'HTTP' : 'WebSocket';
  return target.tls === null ? name : `${name} over TLS${target.tls.insecure ? ', unverified' : ''}`;
}

/** TLS options for node:https and ws. */
function tlsOptions(target: WebTarget): { rejectUnauthorized: boolean; ca?: string; servername?: string } {
  if (target.tls === null) return { rejectUnauthorized: true };
  const servername = target.tls.servername ?? (isIP(target.host) === 0 ? target.host : undefined);
  return {
    rejectUnauthorized: !target.tls.insecure,
    ...(target.tls.ca !== undefined ? { ca: target.tls.ca } : {}),
    ...(servername !== undefined ? { servername } : {}),
  };
}

export type WebAgent = HttpAgent;

/** A keep-alive agent of at most `sockets` connections to the target. */
export function webAgent(target: WebTarget, sockets: number): WebAgent {
  const options = { keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, scheduling: 'fifo' as const };
  return target.tls === null ? new HttpAgent(options) : new HttpsAgent({ ...options, ...tlsOptions(target) });
}

export interface WebResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The local port of the connection it came on (keep-alive reuse shows as the same port). */
  localPort: number;
}

/** One request; rejects on a socket error or after `timeoutMs` without its whole response. */
export function webRequest(
  target: WebTarget,
  agent: WebAgent,
  method: string,
  path: string,
  body: Buffer | null,
  timeoutMs: number,
  headers: Record<string, string> = {},
): Promise<WebResponse> {
  const send = target.tls === null ? httpRequest : httpsRequest;
  return new Promise((resolve, reject) => {
    const req = send({
      host: target.host,
      port: target.port,
      method,
      path,
      agent,
      headers: { ...headers, ...(body !== null ? { 'content-length': String(body.length) } : {}) },
      ...tlsOptions(target),
    });
    const timer = setTimeout(
      () => req.destroy(Object.assign(new Error(`no complete response within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      timeoutMs,
    );
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), localPort: res.socket?.localPort ?? 0 });
      });
    });
    req.end(body ?? undefined);
  });
}

/** A WebSocket to the target, open; rejects with why not within `timeoutMs`. */
export function openWebSocket(target: WebTarget, timeoutMs: number): Promise<WebSocket> {
  const url = formatWebTarget(target);
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { handshakeTimeout: timeoutMs, perMessageDeflate: false, ...tlsOptions(target) });
    ws.once('open', () => {
      ws.removeAllListeners('error');
      resolve(ws);
    });
    ws.once('error', (err) => {
      ws.terminate();
      reject(err);
    });
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      reject(new Error(`the upgrade was answered ${res.statusCode ?? '?'} instead of 101`));
    });
  });
}

/** One message received on `ws` (data and whether it was binary), within `timeoutMs`. */
export function nextMessage(ws: WebSocket, timeoutMs: number): Promise<{ data: Buffer; binary: boolean }> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      ws.off('message', onMessage);
      ws.off('close', onClose);
    };
    const onMessage = (data: Buffer, binary: boolean): void => {
      done();
      resolve({ data, binary });
    };
    const onClose = (code: number): void => {
      done();
      reject(new Error(`the server closed the WebSocket (${code})`));
    };
    const timer = setTimeout(() => {
      done();
      reject(Object.assign(new Error(`no message within ${timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    ws.on('message', onMessage);
    ws.on('close', onClose);
  });
}
