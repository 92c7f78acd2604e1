/**
 * Where the tools connect and how: `host:port`, resolved once to one address (so every
 * connection of a run goes to the same place), over TCP, TLS or UDP.
 */
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { fileErrorReason, UsageError } from '../core/errors.js';
import type { ToolFlagSpec, ToolValue } from './flags.js';

const DEFAULT_HOST = '127.0.0.1';
/** echod's own default port. */
const DEFAULT_PORT = 8080;

export interface Target {
  /** As the user wrote it (a name or an address): shown in reports, used for TLS SNI and verification. */
  host: string;
  port: number;
  /** The address connected to. */
  address: string;
  family: 4 | 6;
}

export interface TlsSpec {
  /** Skip certificate verification (self-signed test servers). */
  insecure: boolean;
  /** PEM text of the CA certificates to trust instead of the system's. */
  ca?: string;
  /** SNI and the name verified; defaults to the host when it is a name. */
  servername?: string;
}

export type TransportSpec = { kind: 'tcp' } | { kind: 'tls'; tls: TlsSpec } | { kind: 'udp' };

/** The transport flags both tools share. */
export const TRANSPORT_FLAGS: readonly ToolFlagSpec[] = [
  { name: 'tls', kind: 'boolean', arg: '', description: 'connect over TLS (to echod behind a TLS terminator, say)' },
  { name: 'tls-insecure', kind: 'boolean', arg: '', description: 'with --tls: do not verify the server certificate' },
  {
    name: 'tls-ca',
    kind: 'string',
    arg: 'FILE',
    description: 'with --tls: trust the CA certificate(s) in this PEM file instead of the system ones',
  },
  {
    name: 'tls-servername',
    kind: 'string',
    arg: 'NAME',
    description: 'with --tls: server name to send (SNI) and verify [default: the host, if a name]',
  },
  { name: 'udp', kind: 'boolean', arg: '', description: 'UDP instead of TCP: each message is one datagram, echoed as one datagram' },
];

/** What a target may be, for the messages that reject one. */
const TARGET_FORMS = 'host:port, such as 127.0.0.1:8080, [::1]:8080 or 8080';
const URL_FORMS = 'http://, https://, ws:// or wss://';
/** echod's listen-URL schemes, which name a transport the tools take as a flag instead. */
const LISTEN_SCHEMES: Readonly<Record<string, string>> = { tcp: '', tls: '--tls ', udp: '--udp ' };
const SCHEME_RE = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i;

/** `8080`, `host`, `host:port`, `[::1]:port` → host and port; defaults 127.0.0.1 and 8080. */
export function parseTarget(text: string | undefined): { host: string; port: number } {
  if (text === undefined || text === '') return { host: DEFAULT_HOST, port: DEFAULT_PORT };
  const url = SCHEME_RE.exec(text);
  if (url !== null) throw new UsageError(schemeMistake(text, (url[1] ?? '').toLowerCase(), url[2] ?? ''));
  let host: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(text);
  if (bracketed !== null) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
  } else if (/^\d+$/.test(text)) {
    host = DEFAULT_HOST;
    portText = text;
  } else if (isIP(text) === 6) {
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
  }
  const port = portText === undefined ? DEFAULT_PORT : Number(portText);
  if (host !== '' && portText !== undefined && /^\d+$/.test(portText) && (port < 1 || port > 65_535))
    throw new UsageError(`invalid target ${JSON.stringify(text)}: port ${portText} is out of range (1–65535)`);
  if (host === '' || portText === '' || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new UsageError(`invalid target ${JSON.stringify(text)} (expected ${TARGET_FORMS})`);
  }
  return { host, port };
}

/**
 * Why `scheme://rest` is not a target, and what to write: for echod's own listen URLs (tcp://,
 * tls://, udp://) the host:port with the flag that says the transport, IPv6 bracketed.
 */
function schemeMistake(text: string, scheme: string, rest: string): string {
  const flag = LISTEN_SCHEMES[scheme];
  if (flag === undefined)
    return `invalid target ${JSON.stringify(text)}: ${scheme}:// is not a scheme the tools take; write host:port (with --tls or --udp for those), or a URL: ${URL_FORMS}`;
  const hostPort = rest.replace(/\/.*$/, '');
  // tcp://::1:7060 means [::1]:7060; as a target, a bare IPv6 address is a host without a port.
  const colon = hostPort.lastIndexOf(':');
  const host = colon === -1 ? hostPort : hostPort.slice(0, colon);
  const written = isIP(host) === 6 ? `[${host}]${hostPort.slice(colon)}` : hostPort;
  return `invalid target ${JSON.stringify(text)}: ${scheme}:// is how echod's --listen is written; as a target write ${flag}${written === '' ? 'host:port' : written}`;
}

/** Resolves the host once. Rejects with a message naming the host. */
export async function resolveTarget(host: string, port: number): Promise<Target> {
  const literal = isIP(host);
  if (literal !== 0) return { host, port, address: host, family: literal === 6 ? 6 : 4 };
  try {
    const { address, family } = await lookup(host);
    return { host, port, address, family: family === 6 ? 6 : 4 };
  } catch (err) {
    throw new Error(`cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
}

/** `host:port` with IPv6 addresses bracketed. */
export function formatTarget(target: { host: string; port: number }): string {
  return isIP(target.host) === 6 ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/** The transport the shared flags ask for; reads the CA file (a usage error if it cannot be read). */
export function transportFromFlags(values: ReadonlyMap<string, ToolValue>): TransportSpec {
  const tls = values.get('tls') === true;
  const udp = values.get('udp') === true;
  const tlsOnly = ['tls-insecure', 'tls-ca', 'tls-servername'].filter((name) => values.has(name));
  if (tls && udp) throw new UsageError('--tls and --udp cannot be combined');
  if (!tls && tlsOnly.length > 0) throw new UsageError(`--${tlsOnly[0]} needs --tls`);
  if (udp) return { kind: 'udp' };
  if (!tls) return { kind: 'tcp' };
  const spec: TlsSpec = { insecure: values.get('tls-insecure') === true };
  const caFile = values.get('tls-ca') as string | undefined;
  if (caFile !== undefined) {
    try {
      spec.ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --tls-ca ${JSON.stringify(caFile)}: ${fileErrorReason(err)}`);
    }
    if (!spec.ca.includes('-----BEGIN CERTIFICATE-----'))
      throw new UsageError(`--tls-ca ${JSON.stringify(caFile)} holds no PEM certificate`);
  }
  const servername = values.get('tls-servername') as string | undefined;
  if (servername !== undefined) spec.servername = servername;
  return { kind: 'tls', tls: spec };
}

/** Options for `tls.connect` (minus the socket callbacks). */
export function tlsConnectOptions(
  target: Target,
  tls: TlsSpec,
): { host: string; port: number; servername?: string; ca?: string; rejectUnauthorized: boolean } {
  // SNI must not be an IP address (RFC 6066); Node then verifies against the IP itself.
  const servername = tls.servername ?? (isIP(target.host) === 0 ? target.host : undefined);
  return {
    host: target.address,
    port: target.port,
    rejectUnauthorized: !tls.insecure,
    ...(servername !== undefined ? { servername } : {}),
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
  };
}

/** Error codes that mean the TLS layer refused, not the network. */
export function isTlsError(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return (
    code.startsWith('ERR_TLS') ||
    code.startsWith('ERR_SSL') ||
    /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME|ALTNAME/.test(code) ||
    /ssl/i.test(tlsLibrary(err))
  );
}

/** OpenSSL errors name the library that raised them (`SSL routines`). */
function tlsLibrary(err: Error): string {
  const library: unknown = (err as Error & { library?: unknown }).library;
  return typeof library === 'string' ? library : '';
}

/** Connection-level error codes that mean the peer reset or vanished. */
export function isResetError(err: NodeJS.ErrnoException): boolean {
  return err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'ECONNABORTED';
}

export function transportName(transport: TransportSpec): string {
  return transport.kind === 'tls' ? `TLS${transport.tls.insecure ? ', unverified' : ''}` : transport.kind.toUpperCase();
}
