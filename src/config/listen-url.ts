/**
 * `--listen URL`: one listener per URL, each with its own options.
 *
 *   tcp://0.0.0.0:8080   tcp://[::]:8080   tls://:8443   udp://[::]:8080
 *   unix:///run/echod.sock   tcp://:7000?mode=raw&proxy=optional
 *   http://:8081   https://:8444   (ws:// and wss:// are the same listeners: WebSocket upgrades)
 *   http+unix:///run/echod-http.sock   https+unix:///run/echod-https.sock   (ws+unix://, wss+unix:// alike)
 *
 * Pure: text in, a listener description out, or an error naming what is wrong.
 */
import { isIP } from 'node:net';
import { FAULTS, type FaultOptions, FaultOptionError, faultNamed, HTTP_FAULTS, parseFault, refusedOnHttp } from './faults.js';

export type ListenerProtocol = 'tcp' | 'tls' | 'udp' | 'unix' | 'http' | 'https';
/** The L7 listeners: HTTP/1.1 (and HTTP/2 by ALPN on https) echo with WebSocket upgrades. */
export const HTTP_PROTOCOLS: readonly ListenerProtocol[] = ['http', 'https'];
/** The listeners that speak TLS (they need a certificate, and count handshakes). */
export const TLS_PROTOCOLS: readonly ListenerProtocol[] = ['tls', 'https'];
/** ws:// and wss:// name the same listeners as http:// and https:// (every http listener upgrades). */
const SCHEME_ALIASES: Readonly<Record<string, ListenerProtocol>> = { ws: 'http', wss: 'https' };
export type ProxyProtocolMode = 'off' | 'optional' | 'required';
export const PROXY_PROTOCOL_MODES: readonly ProxyProtocolMode[] = ['off', 'optional', 'required'];

/** One listener, as the library takes it (fields left out take the server's defaults). */
export interface ListenerOptions {
  protocol?: ListenerProtocol;
  /** tcp, tls, udp: the address; empty or absent means the server's `host`. */
  host?: string;
  port?: number;
  /** unix: the socket's path. http, https: a unix socket's path instead of host and port (http+unix://). */
  path?: string;
  /** line or raw; absent means the server's `mode` (UDP always echoes datagrams whole). */
  mode?: 'line' | 'raw';
  /** PROXY protocol header before the client's bytes (tcp, tls, unix, http, https). @default 'off' */
  proxyProtocol?: ProxyProtocolMode;
  /** An already-open listening socket (systemd socket activation). */
  fd?: number;
  /** Faults on this listener only (a clean port and a faulty one in one echod). */
  faults?: FaultOptions;
}

const URL_RE = /^(tcp|tls|udp|unix|https?|wss?)(\+unix)?:\/\/([^?]*)(?:\?(.*))?$/;
/** How a unix socket's path is written after the scheme (unix:///run/echod.sock, http+unix:///run/echod.sock). */
const UNIX_SUFFIX = '+unix';
const HOST_PORT_RE = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/;

export class ListenUrlError extends Error {
  readonly code = 'ERR_ECHOD_LISTEN_URL';
}

export function parseListenUrl(text: string): ListenerOptions {
  const match = URL_RE.exec(text.trim());
  if (match === null)
    throw new ListenUrlError(
      `${JSON.stringify(text)} is not tcp://, tls://, udp://, unix://, http://, https://, ws:// or wss:// (or http+unix:// and the like) followed by an address`,
    );
  const [, base = '', unixSuffix, address = '', query] = match;
  const scheme = `${base}${unixSuffix ?? ''}`;
  const protocol = SCHEME_ALIASES[base] ?? (base as ListenerProtocol);
  const http = HTTP_PROTOCOLS.includes(protocol);
  if (unixSuffix !== undefined && !http)
    throw new ListenUrlError(
      `${JSON.stringify(text)}: +unix is for http, https, ws and wss (a unix socket for line or raw echo is unix:///path)`,
    );
  const listener: ListenerOptions = { protocol };
  if (protocol === 'unix' || unixSuffix !== undefined) {
    if (!address.startsWith('/'))
      throw new ListenUrlError(`${JSON.stringify(text)}: a unix socket needs an absolute path (${scheme}:///run/echod.sock)`);
    try {
      listener.path = decodeURIComponent(address);
    } catch {
      throw new ListenUrlError(`${JSON.stringify(text)}: bad %-escape in the path`);
    }
  } else {
    const hostPort = HOST_PORT_RE.exec(address);
    if (hostPort === null)
      throw new ListenUrlError(
        `${JSON.stringify(text)}: ${bracketsHint(scheme, address, query) ?? 'expected HOST:PORT, [IPv6]:PORT or :PORT'}`,
      );
    const [, v6, host = '', port = ''] = hostPort;
    const bracketed = v6 !== undefined;
    const hostText = bracketed ? v6 : host;
    if (bracketed && isIP(hostText) !== 6) throw new ListenUrlError(`${JSON.stringify(text)}: ${hostText} is not an IPv6 address`);
    const portNumber = Number(port);
    if (portNumber > 65_535) throw new ListenUrlError(`${JSON.stringify(text)}: port ${port} is above 65535`);
    if (hostText !== '') listener.host = hostText;
    listener.port = portNumber;
  }
  const given = new Set<string>();
  for (const [key, value] of new URLSearchParams(query ?? '')) {
    // URLSearchParams keeps every copy; taking the last one would hide a typo or a paste twice.
    if (given.has(key)) throw new ListenUrlError(`${JSON.stringify(text)}: ${key} given twice; give each key once`);
    given.add(key);
    if (http && key !== 'proxy' && !HTTP_FAULTS.some((fault) => fault.name === key)) {
      // The faults the table applies to http (docs/http.md says what each means there).
      throw new ListenUrlError(
        `${JSON.stringify(text)}: ${JSON.stringify(key)} is not an option of ${scheme}:// listeners (${['proxy', ...HTTP_FAULTS.map((fault) => fault.name)].join(' and ')} are)`,
      );
    } else if (key === 'mode') {
      if (value !== 'line' && value !== 'raw') throw new ListenUrlError(`${JSON.stringify(text)}: mode must be line or raw`);
      listener.mode = value;
    } else if (key === 'proxy') {
      if (!(PROXY_PROTOCOL_MODES as readonly string[]).includes(value))
        throw new ListenUrlError(`${JSON.stringify(text)}: proxy must be off, optional or required`);
      if (protocol === 'udp' && value !== 'off')
        throw new ListenUrlError(`${JSON.stringify(text)}: the PROXY protocol is for stream listeners, not udp`);
      listener.proxyProtocol = value as ProxyProtocolMode;
    } else if (faultNamed(key) !== undefined) {
      try {
        const fault = parseFault(key, value);
        const spec = faultNamed(key);
        const refused = http && spec !== undefined ? refusedOnHttp(spec, fault) : null;
        if (refused !== null) throw new FaultOptionError(refused);
        listener.faults = { ...listener.faults, ...fault };
      } catch (err) {
        if (err instanceof FaultOptionError) throw new ListenUrlError(`${JSON.stringify(text)}: ${err.message}`);
        throw err;
      }
    } else {
      throw new ListenUrlError(
        `${JSON.stringify(text)}: unknown option ${JSON.stringify(key)} (mode, proxy, ${FAULTS.map((spec) => spec.name).join(', ')})`,
      );
    }
  }
  return listener;
}

/**
 * `tcp://::1:7060` is an IPv6 address and a port run together: the URL that says it,
 * `put an IPv6 address in brackets: tcp://[::1]:7060`; null when the address is not that.
 */
function bracketsHint(scheme: string, address: string, query: string | undefined): string | null {
  const rest = query !== undefined ? `?${query}` : '';
  // ::1:7060 is also an address (the group 7060), but one given without a port: the port is what was meant.
  const split = /^(.+):(\d{1,5})$/.exec(address);
  if (split !== null && isIP(split[1] as string) === 6)
    return `put an IPv6 address in brackets: ${scheme}://[${split[1] as string}]:${split[2] as string}${rest}`;
  if (isIP(address) === 6) return `put an IPv6 address in brackets and add a port: ${scheme}://[${address}]:PORT${rest}`;
  return null;
}

/** Whether a listener binds a unix socket (unix://, http+unix://, https+unix://) rather than a port. */
export function isUnixListener(listener: { protocol: ListenerProtocol; path: string }): boolean {
  return listener.protocol === 'unix' || (HTTP_PROTOCOLS.includes(listener.protocol) && listener.path !== '');
}

/** A unix socket's scheme: http+unix, https+unix, else unix (a tcp listener's inherited socket too). */
function unixScheme(protocol: ListenerProtocol): string {
  return HTTP_PROTOCOLS.includes(protocol) ? `${protocol}${UNIX_SUFFIX}` : 'unix';
}

/** The URL form of a listener, for logs. */
export function formatListener(listener: { protocol: ListenerProtocol; host: string; port: number; path: string }): string {
  if (isUnixListener(listener)) return `${unixScheme(listener.protocol)}://${listener.path}`;
  const host = listener.host.includes(':') ? `[${listener.host}]` : listener.host;
  return `${listener.protocol}://${host}:${listener.port}`;
}

/**
 * A bound listener's name in logs, /stats and metrics: its URL with the bound port (port 0
 * resolved). An inherited socket (systemd socket activation) is named by the address the
 * socket is bound to, which only the socket knows, and its fd: `tcp://127.0.0.1:8080 (fd 3)`,
 * `unix:///run/echod.sock (fd 4)`, or `unix socket (fd 4)` where the path cannot be read (Node).
 */
export function boundListenerName(
  listener: { protocol: ListenerProtocol; host: string; port: number; path: string; fd: number | null },
  bound: { address: string; port: number } | { path: string },
): string {
  if (listener.fd === null) return formatListener({ ...listener, port: 'port' in bound ? bound.port : listener.port });
  const url =
    'port' in bound
      ? formatListener({ protocol: listener.protocol, host: bound.address, port: bound.port, path: '' })
      : bound.path !== ''
        ? `${unixScheme(listener.protocol)}://${bound.path}`
        : 'unix socket';
  return `${url} (fd ${listener.fd})`;
}
