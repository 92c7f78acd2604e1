/**
 * What the HTTP listeners report, for metrics and tests: one event per answered request, per
 * refused request (each with a stable reason) and per WebSocket message and connection.
 * The server owns one; the transport emits, observability listens.
 */
import { EventEmitter } from 'node:events';

/** Why a request or a WebSocket was refused or cut off. Stable strings: metric labels and tests use them. */
export const HTTP_ERROR_REASONS = [
  /** Unparseable request (400). */
  'bad_request',
  /** Request head larger than --http-max-header-bytes (431). */
  'header_too_large',
  /** More header fields than --http-max-headers (431). */
  'too_many_headers',
  /** Head or whole request not received in time (408): slowloris. */
  'request_timeout',
  /** Body larger than --max-body-bytes (413). */
  'body_too_large',
  /** A control out of its bounds or malformed (400). */
  'bad_control',
  /** The last request --http-max-requests-per-connection allows: answered with Connection: close or GOAWAY. */
  'max_requests_per_connection',
  /** An HTTP/2 connection whose streams were reset faster than --http2-max-resets-per-second (GOAWAY ENHANCE_YOUR_CALM, closed): rapid reset. */
  'http2_rapid_reset',
  /** An upgrade that was not a valid WebSocket handshake (400). */
  'bad_upgrade',
  /** A WebSocket message larger than --max-ws-message-bytes (close 1009). */
  'ws_message_too_big',
  /** A WebSocket protocol violation by the client (close 1002 and the like). */
  'ws_protocol_error',
] as const;
export type HttpErrorReason = (typeof HTTP_ERROR_REASONS)[number];

/** Methods that get their own metric label; any other is `OTHER` (label values stay bounded). */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE']);

export function methodLabel(method: string): string {
  return KNOWN_METHODS.has(method) ? method : 'OTHER';
}

export interface RequestRecord {
  method: string;
  status: number;
  /** Request body bytes received. */
  bytesIn: number;
  /** Response body bytes sent. */
  bytesOut: number;
  durationMs: number;
}

export interface HttpMonitorEvents {
  request: [record: RequestRecord];
  refusal: [reason: HttpErrorReason];
  wsOpen: [];
  /** A message received (its payload size). */
  wsMessage: [bytes: number];
  /** A message's echo handed to the socket (its payload size). */
  wsEchoed: [bytes: number];
}

/** The server's HTTP event feed (see HttpMonitorEvents). */
export class HttpMonitor extends EventEmitter<HttpMonitorEvents> {
  refused(reason: HttpErrorReason): void {
    this.emit('refusal', reason);
  }
}
