/**
 * What a failed connect or TLS handshake means, in words, for both tools: one table, so that
 * `echod check` and `echod bench` say the same thing for the same error, and a certificate that
 * does not verify names the flags that change that.
 */
import type { Socket } from 'node:net';

/** Error codes that say nothing answers at the target's address, and what each means. */
const UNREACHABLE: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused (ECONNREFUSED): nothing listens on that port',
  EHOSTUNREACH: 'no route to the host (EHOSTUNREACH)',
  EHOSTDOWN: 'the host is down (EHOSTDOWN)',
  ENETUNREACH: 'the network is unreachable (ENETUNREACH)',
  ETIMEDOUT: 'the connect timed out (ETIMEDOUT)',
};

/** The certificate is not signed by a CA this client trusts (or is expired, revoked, not yet valid…). */
const UNTRUSTED_RE = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY|DECRYPT|DECODE)|INVALID_CA|PATH_LENGTH_EXCEEDED|INVALID_PURPOSE/;
/** The certificate is valid but for another name. */
const WRONG_NAME = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'HOSTNAME_MISMATCH']);
/** OpenSSL's errors when what came back was not a TLS record (a plain TCP echo echoing the ClientHello, say). */
const NOT_TLS = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_UNEXPECTED_MESSAGE',
  'ERR_SSL_HTTP_REQUEST',
]);

/** The same errors raised on a write, as `EPROTO` with OpenSSL's text only. */
const NOT_TLS_TEXT_RE = /SSL routines:.*:(wrong version number|packet length too long|unexpected message|http request)/;
/** OpenSSL's reason in its error text (`…:SSL routines:ssl3_get_record:wrong version number:…`). */
const OPENSSL_REASON_RE = /SSL routines:[^:]*:([^:]+)/;

export const TLS_UNTRUSTED_HINT = "pass --tls-insecure to skip verification, or --tls-ca FILE with the server's CA";
export const TLS_WRONG_NAME_HINT = 'pass --tls-servername NAME with a name the certificate holds, or --tls-insecure to skip verification';
export const NOT_TLS_HINT = 'the server did not answer TLS: is it a TLS port?';

/** A connect that got no answer at all within the timeout. */
export function noConnectReason(timeoutMs: number): string {
  return `no answer to a connect within ${timeoutMs / 1000} s`;
}

/** A TLS connect whose TCP connect succeeded, but whose handshake got no answer: a plain port, most likely. */
export function noHandshakeReason(timeoutMs: number): string {
  return `connected, but no TLS handshake within ${timeoutMs / 1000} s: is it a TLS port?`;
}

/** Non-null when what answered the ClientHello was not TLS: the hint, which is then also the reason to stop. */
export function notTlsReason(err: NodeJS.ErrnoException): string | null {
  return (err.code !== undefined && NOT_TLS.has(err.code)) || NOT_TLS_TEXT_RE.test(err.message) ? NOT_TLS_HINT : null;
}

/**
 * Non-null when the handshake failed on the server's certificate (not trusted, or for another
 * name): every connect would fail the same way, so this is a reason to stop, with what to change.
 */
export function certificateReason(err: NodeJS.ErrnoException): string | null {
  const code = err.code;
  if (code === undefined || (!WRONG_NAME.has(code) && tlsHint(code) !== TLS_UNTRUSTED_HINT)) return null;
  return `the server's certificate did not verify: ${connectErrorText(err)}`;
}

/**
 * Why every later attempt would fail alike, or null: what answered is not as asked (not TLS, a
 * certificate that does not verify: `reached`), or nothing answers at all.
 */
export function stopReason(err: NodeJS.ErrnoException): { why: string; reached: boolean } | null {
  const answered = notTlsReason(err) ?? certificateReason(err);
  if (answered !== null) return { why: answered, reached: true };
  const unreachable = unreachableReason(err);
  return unreachable !== null ? { why: unreachable, reached: false } : null;
}

/**
 * Watches a connect on `socket` so that a timeout can say why: over TLS, a TCP connect that
 * succeeded means the port did not answer the handshake (`reached`), not that nothing answers.
 */
export function connectTimeout(socket: Socket, tls: boolean): (timeoutMs: number) => { why: string; reached: boolean } {
  let tcpConnected = false;
  if (tls) socket.once('connect', () => (tcpConnected = true));
  return (timeoutMs) => ({ why: tcpConnected ? noHandshakeReason(timeoutMs) : noConnectReason(timeoutMs), reached: tcpConnected });
}

/** What an error says about reaching the target: the explanation, or null if it was reached. */
export function unreachableReason(err: NodeJS.ErrnoException): string | null {
  return err.code !== undefined ? (UNREACHABLE[err.code] ?? null) : null;
}

/** What to change for a TLS error, or null when it is not one this client can fix with a flag. */
function tlsHint(code: string): string | null {
  if (WRONG_NAME.has(code)) return TLS_WRONG_NAME_HINT;
  if (NOT_TLS.has(code)) return NOT_TLS_HINT;
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) return null;
  return UNTRUSTED_RE.test(code) ? TLS_UNTRUSTED_HINT : null;
}

/**
 * A connect or handshake error as one phrase: what it means for the unreachable codes; else the
 * code and Node's message (once: `connect ECONNRESET 127.0.0.1:7000` names its code already),
 * with what to change for a TLS error.
 */
export function connectErrorText(err: NodeJS.ErrnoException): string {
  const unreachable = unreachableReason(err);
  if (unreachable !== null) return unreachable;
  const code = err.code;
  // OpenSSL's text is a path into its sources; its reason is what it says.
  const message = OPENSSL_REASON_RE.exec(err.message)?.[1] ?? err.message;
  const text = code === undefined || message.includes(code) ? message : `${code}: ${message}`;
  const hint = notTlsReason(err) ?? (code === undefined ? null : tlsHint(code));
  return hint === null ? text : `${text} (${hint})`;
}
