/**
 * HTTP/2 scenarios run against https (h2) and http (h2c) listeners alike: a rapid-reset flood,
 * and a drain while a stream is in flight.
 */
import { once } from 'node:events';
import { constants as h2, type ClientHttp2Session } from 'node:http2';
import type { EchoServer } from '../src/index.js';
import { poll } from './wait.js';

export interface FloodResult {
  /** Streams opened (and reset) before the session ended. */
  sent: number;
  /** The GOAWAY's error code, or null when none came. */
  goawayCode: number | null;
}

export interface FloodOptions {
  /** At most this many streams. @default 1000 */
  max?: number;
  /** Streams per batch. @default 20 */
  batch?: number;
  /** Awaited after each batch (`sent` so far): a pause, or another client's request meanwhile. @default setImmediate */
  between?: (sent: number) => Promise<void>;
}

/**
 * A rapid-reset flood (CVE-2023-44487's shape) from one client session: streams opened and
 * cancelled right after their HEADERS, in batches, until the server sends GOAWAY or closes the
 * session, or `max` streams were sent. Bounded in count; stops by itself.
 */
export async function floodResets(session: ClientHttp2Session, options: FloodOptions = {}): Promise<FloodResult> {
  const { max = 1000, batch = 20, between = () => new Promise<void>((resolve) => setImmediate(resolve)) } = options;
  let goawayCode: number | null = null;
  session.on('goaway', (code: number) => (goawayCode = code));
  // Not once(session, 'close'): that rejects on the session's error, which a GOAWAY may bring.
  const closed = new Promise((resolve) => session.once('close', resolve));
  await once(session, 'connect');
  let sent = 0;
  while (sent < max && !session.closed && !session.destroyed && goawayCode === null) {
    for (let i = 0; i < batch && !session.closed && !session.destroyed; i++, sent++) {
      const req = session.request({ ':path': `/r${sent}` });
      req.on('error', () => {});
      req.close(h2.NGHTTP2_CANCEL);
    }
    await between(sent);
  }
  await closed;
  return { sent, goawayCode };
}

/**
 * Starts `request` on `session` (connected, its settings received), waits until the server has
 * counted it, then closes `server` (drain): returns the GOAWAY's code and the request's outcome
 * once the session has closed and the drain has ended.
 */
export async function drainDuringRequest<T>(
  server: EchoServer,
  session: ClientHttp2Session,
  request: () => Promise<T>,
): Promise<{ goawayCode: number; result: T }> {
  const goaway = once(session, 'goaway');
  const inFlight = request();
  // The request is at the server (its connection counted a request) before the drain begins.
  await poll(
    () => server.connectionsSnapshot().some((connection) => (connection.http?.requests ?? 0) > 0),
    5000,
    'the request at the server',
  );
  const closed = server.close();
  const [goawayCode] = (await goaway) as [number];
  const result = await inFlight;
  await once(session, 'close');
  await closed;
  return { goawayCode, result };
}
