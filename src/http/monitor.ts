/**
 * What the HTTP listeners report, for metrics and tests. Answered requests and WebSocket
 * messages are counted here in plain numbers, which the metrics read when scraped: they happen
 * tens of thousands of times a second, and an event (or a labelled prom-client call) for each
 * cost a good part of an echo. Refusals, rare, are counted and also emitted (`refusal`, with a
 * stable reason). The server owns one; the transport counts, observability reads.
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
export const METHOD_LABELS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE', 'OTHER'] as const;
/** Status classes: `2xx` for 200–299 and so on; anything outside 100–599 (none is sent) is `other`. */
export const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
const OTHER_METHOD = METHOD_LABELS.length - 1;
const METHOD_INDEX: ReadonlyMap<string, number> = new Map(METHOD_LABELS.slice(0, OTHER_METHOD).map((method, i) => [method, i]));

function classIndex(status: number): number {
  return status >= 100 && status < 600 ? Math.floor(status / 100) - 1 : CODE_CLASSES.length - 1;
}

export interface HttpMonitorEvents {
  refusal: [reason: HttpErrorReason];
}

/** The server's HTTP counts and its refusal feed. */
export class HttpMonitor extends EventEmitter<HttpMonitorEvents> {
  /** Requests answered (refused ones with their 4xx included), by method label and code class: see {@link answeredCount}. */
  private readonly answeredByLabel: number[] = new Array<number>(METHOD_LABELS.length * CODE_CLASSES.length).fill(0);
  /** Request body bytes received in answered requests. */
  requestBytes = 0;
  /** Response body bytes sent. */
  responseBytes = 0;
  readonly refusals: Record<HttpErrorReason, number> = Object.fromEntries(HTTP_ERROR_REASONS.map((reason) => [reason, 0])) as Record<
    HttpErrorReason,
    number
  >;
  /** WebSocket upgrades accepted. */
  wsConnections = 0;
  /** WebSocket messages received. */
  wsMessagesIn = 0;
  /** WebSocket messages whose echo was handed to the socket. */
  wsMessagesOut = 0;
  /**
   * Each answered request's duration, in seconds, for a histogram: set by whoever keeps one
   * (the metrics), a no-op otherwise.
   */
  observeDuration: (seconds: number) => void = () => {};

  /** A request was answered (its response handed to the socket). */
  answered(method: string, status: number, bytesIn: number, bytesOut: number, durationMs: number): void {
    const i = (METHOD_INDEX.get(method) ?? OTHER_METHOD) * CODE_CLASSES.length + classIndex(status);
    this.answeredByLabel[i] = (this.answeredByLabel[i] as number) + 1;
    this.requestBytes += bytesIn;
    this.responseBytes += bytesOut;
    this.observeDuration(durationMs / 1000);
  }

  /** Requests answered with this method label and code class. */
  answeredCount(method: string, codeClass: string): number {
    const m = METHOD_LABELS.indexOf(method as (typeof METHOD_LABELS)[number]);
    const c = CODE_CLASSES.indexOf(codeClass as (typeof CODE_CLASSES)[number]);
    return m === -1 || c === -1 ? 0 : (this.answeredByLabel[m * CODE_CLASSES.length + c] as number);
  }

  refused(reason: HttpErrorReason): void {
    this.refusals[reason]++;
    this.emit('refusal', reason);
  }
}
