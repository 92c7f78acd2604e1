/**
 * PROXY protocol v1 (text) and v2 (binary) headers, as sent by load balancers (HAProxy, AWS
 * NLB, Azure, GCP, nginx, Envoy) ahead of the client's bytes. Pure: the bytes received so far
 * in, a verdict out; it never throws and never reads past the header.
 *
 * Reference: HAProxy's "The PROXY protocol, Versions 1 & 2" specification.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** v2's fixed 12-byte signature. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** v1: the whole line, CRLF included, is at most 107 bytes (the specification's bound). */
export const V1_MAX_BYTES = 107;
const V2_FIXED_BYTES = 16;
/**
 * v2: the specification allows 16 + 65535 bytes; real balancers send well under 1 KiB (AWS
 * NLB with TLVs: about 100). A larger header is refused rather than buffered.
 */
export const V2_MAX_BYTES = 4096;

const TLV = {
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  SSL_VERSION: 0x21,
  SSL_CN: 0x22,
  SSL_CIPHER: 0x23,
  SSL_SIG_ALG: 0x24,
  SSL_KEY_ALG: 0x25,
  NETNS: 0x30,
  /** Custom ranges used by the cloud providers' load balancers. */
  GCP: 0xe0,
  AWS: 0xea,
  AZURE: 0xee,
} as const;

export interface ProxyAddress {
  address: string;
  port: number;
}

export interface ProxySsl {
  /** PP2_CLIENT_SSL, _CERT_CONN, _CERT_SESS bits. */
  client: number;
  /** 0 when the client presented a certificate that was verified. */
  verify: number;
  version?: string;
  commonName?: string;
  cipher?: string;
  signatureAlgorithm?: string;
  keyAlgorithm?: string;
}

/**
 * The TLVs (v2) echod decodes; unknown ones are listed by type only. Values that are text
 * (ALPN, authority, unique id, SSL names, netns, AWS VPC endpoint id) are shown as
 * {@link tlvText} renders them: the text when printable, else `hex:` and the bytes in hex.
 */
export interface ProxyTlvs {
  alpn?: string;
  authority?: string;
  /** As haproxy's `unique-id-format` made it (text), or `hex:…` for binary ids. */
  uniqueId?: string;
  ssl?: ProxySsl;
  netns?: string;
  crc32c?: number;
  awsVpceId?: string;
  azureLinkId?: number;
  /** PSC connection id, as a decimal string (a 64-bit number). */
  gcpPscConnectionId?: string;
  unknownTypes?: number[];
}

export interface ProxyHeader {
  version: 1 | 2;
  /** LOCAL: a health check from the balancer itself; the connection's own addresses stand. */
  command: 'PROXY' | 'LOCAL';
  /** TCP4/TCP6/UDP4/UDP6/UNIX, or UNKNOWN (v1 UNKNOWN, v2 UNSPEC): no addresses. */
  transport: 'TCP4' | 'TCP6' | 'UDP4' | 'UDP6' | 'UNIX' | 'UNKNOWN';
  source?: ProxyAddress;
  destination?: ProxyAddress;
  tlvs: ProxyTlvs;
}

export type ProxyParseResult =
  /** More bytes are needed to decide. */
  | { kind: 'incomplete' }
  /** The bytes cannot begin a PROXY header (in `optional` mode: a client without one). */
  | { kind: 'absent' }
  /** A whole header: it took the first `length` bytes; the client's data starts after them. */
  | { kind: 'header'; header: ProxyHeader; length: number }
  /** A header that is malformed or too large; `reason` says how, for the log. */
  | { kind: 'invalid'; reason: string };

const INCOMPLETE: ProxyParseResult = { kind: 'incomplete' };
const ABSENT: ProxyParseResult = { kind: 'absent' };

/** Parses the start of a connection's bytes. Call again with more bytes while `incomplete`. */
export function parseProxyHeader(data: Buffer): ProxyParseResult {
  if (startsLike(data, V2_SIGNATURE)) return data.length < V2_SIGNATURE.length ? INCOMPLETE : parseV2(data);
  if (startsLike(data, V1_PREFIX)) return data.length < V1_PREFIX.length ? INCOMPLETE : parseV1(data);
  return ABSENT;
}

/** True if `data` and `prefix` agree on every byte they both have. */
function startsLike(data: Buffer, prefix: Buffer): boolean {
  const n = Math.min(data.length, prefix.length);
  return data.subarray(0, n).equals(prefix.subarray(0, n));
}

function invalid(reason: string): ProxyParseResult {
  return { kind: 'invalid', reason };
}

function parseV1(data: Buffer): ProxyParseResult {
  const window = data.subarray(0, V1_MAX_BYTES);
  const cr = window.indexOf('\r\n', 0, 'latin1');
  if (cr === -1) {
    const strayCr = window.indexOf(0x0d);
    if (window.includes(0x0a) || (strayCr !== -1 && strayCr < window.length - 1)) return invalid('v1 header line not ended by CRLF');
    return data.length >= V1_MAX_BYTES ? invalid(`v1 header longer than ${V1_MAX_BYTES} bytes`) : INCOMPLETE;
  }
  const line = window.toString('latin1', 0, cr);
  if (!/^[\x20-\x7e]*$/.test(line)) return invalid('v1 header has non-printable bytes');
  const length = cr + 2;
  const parts = line.split(' ');
  const transport = parts[1];
  if (transport === 'UNKNOWN') {
    return { kind: 'header', length, header: { version: 1, command: 'PROXY', transport: 'UNKNOWN', tlvs: {} } };
  }
  if (transport !== 'TCP4' && transport !== 'TCP6') return invalid(`v1 unknown protocol ${JSON.stringify(transport ?? '')}`);
  if (parts.length !== 6) return invalid(`v1 ${transport} header needs 4 fields, got ${parts.length - 2}`);
  const [, , srcAddress = '', dstAddress = '', srcPort = '', dstPort = ''] = parts;
  const isFamily = transport === 'TCP4' ? isIPv4 : isIPv6;
  if (!isFamily(srcAddress)) return invalid(`v1 bad ${transport} source address ${JSON.stringify(srcAddress)}`);
  if (!isFamily(dstAddress)) return invalid(`v1 bad ${transport} destination address ${JSON.stringify(dstAddress)}`);
  const sport = parsePort(srcPort);
  const dport = parsePort(dstPort);
  if (sport === undefined) return invalid(`v1 bad source port ${JSON.stringify(srcPort)}`);
  if (dport === undefined) return invalid(`v1 bad destination port ${JSON.stringify(dstPort)}`);
  return {
    kind: 'header',
    length,
    header: {
      version: 1,
      command: 'PROXY',
      transport,
      source: { address: srcAddress, port: sport },
      destination: { address: dstAddress, port: dport },
      tlvs: {},
    },
  };
}

function parsePort(text: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65_535 ? port : undefined;
}

function parseV2(data: Buffer): ProxyParseResult {
  if (data.length < V2_FIXED_BYTES) return INCOMPLETE;
  const versionCommand = data[12] as number;
  const familyProtocol = data[13] as number;
  const bodyLength = data.readUInt16BE(14);
  const length = V2_FIXED_BYTES + bodyLength;
  if (versionCommand >> 4 !== 2) return invalid(`v2 bad version ${versionCommand >> 4}`);
  const commandBits = versionCommand & 0x0f;
  if (commandBits > 1) return invalid(`v2 bad command ${commandBits}`);
  if (length > V2_MAX_BYTES) return invalid(`v2 header of ${length} bytes exceeds ${V2_MAX_BYTES}`);
  if (data.length < length) return INCOMPLETE;
  const body = data.subarray(V2_FIXED_BYTES, length);
  const command = commandBits === 1 ? 'PROXY' : 'LOCAL';
  const family = familyProtocol >> 4;
  const protocol = familyProtocol & 0x0f;
  if (family > 3 || protocol > 2) return invalid(`v2 bad address family/protocol 0x${familyProtocol.toString(16).padStart(2, '0')}`);

  let transport: ProxyHeader['transport'] = 'UNKNOWN';
  let source: ProxyAddress | undefined;
  let destination: ProxyAddress | undefined;
  let addressBytes = 0;
  if (family === 1 || family === 2) {
    if (protocol === 0) return invalid('v2 INET address with UNSPEC protocol');
    const ipBytes = family === 1 ? 4 : 16;
    addressBytes = 2 * ipBytes + 4;
    if (body.length < addressBytes) return invalid(`v2 address block of ${body.length} bytes, need ${addressBytes}`);
    transport = family === 1 ? (protocol === 1 ? 'TCP4' : 'UDP4') : protocol === 1 ? 'TCP6' : 'UDP6';
    const format = family === 1 ? formatIPv4 : formatIPv6;
    source = { address: format(body.subarray(0, ipBytes)), port: body.readUInt16BE(2 * ipBytes) };
    destination = { address: format(body.subarray(ipBytes, 2 * ipBytes)), port: body.readUInt16BE(2 * ipBytes + 2) };
  } else if (family === 3) {
    addressBytes = 216;
    if (body.length < addressBytes) return invalid(`v2 UNIX address block of ${body.length} bytes, need ${addressBytes}`);
    transport = 'UNIX';
    source = { address: cString(body.subarray(0, 108)), port: 0 };
    destination = { address: cString(body.subarray(108, 216)), port: 0 };
  }
  const tlvs = parseTlvs(body.subarray(addressBytes));
  if (typeof tlvs === 'string') return invalid(tlvs);
  const header: ProxyHeader = { version: 2, command, transport, tlvs };
  // LOCAL (health checks) carries no client: the connection's own addresses stand.
  if (command === 'PROXY' && source !== undefined && destination !== undefined) {
    header.source = source;
    header.destination = destination;
  }
  return { kind: 'header', header, length };
}

function formatIPv4(bytes: Buffer): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** Canonical (RFC 5952) text: lowercase, leading zeros dropped, the longest zero run as `::`. */
function formatIPv6(bytes: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i > 1) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

function cString(bytes: Buffer): string {
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end === -1 ? bytes.length : end);
}

/** What marks a TLV value shown in hex: a value that is not printable text. */
export const TLV_HEX_PREFIX = 'hex:';

const UTF8 = new TextDecoder('utf-8', { fatal: true });
/** Controls, format characters (bidi overrides, zero-width), unassigned, private use, line breaks. */
const UNPRINTABLE = /[\p{C}\p{Zl}\p{Zp}]/u;

/**
 * A TLV value that is meant as text, as an operator should see it: the text itself when it is
 * valid UTF-8 with nothing unprintable in it (so a unique id matches haproxy's log at a glance),
 * else `hex:` and its bytes in hex. Never markup: whoever shows it (the status page) sets it
 * as text. Pure.
 */
export function tlvText(value: Uint8Array): string {
  let text: string;
  try {
    text = UTF8.decode(value);
  } catch {
    return TLV_HEX_PREFIX + Buffer.from(value).toString('hex');
  }
  return UNPRINTABLE.test(text) ? TLV_HEX_PREFIX + Buffer.from(value).toString('hex') : text;
}

/** Decodes a TLV list; a string return is the reason it is malformed. */
function parseTlvs(data: Buffer, inSsl = false): ProxyTlvs | string {
  const tlvs: ProxyTlvs = {};
  let offset = 0;
  while (offset < data.length) {
    if (data.length - offset < 3) return 'v2 truncated TLV header';
    const type = data[offset] as number;
    const length = data.readUInt16BE(offset + 1);
    const value = data.subarray(offset + 3, offset + 3 + length);
    if (value.length < length) return `v2 TLV 0x${type.toString(16)} runs past the header`;
    offset += 3 + length;
    const problem = inSsl ? readSslSubTlv(tlvs, type, value) : readTlv(tlvs, type, value);
    if (problem !== undefined) return problem;
  }
  return tlvs;
}

function readTlv(tlvs: ProxyTlvs, type: number, value: Buffer): string | undefined {
  switch (type) {
    case TLV.ALPN:
      tlvs.alpn = tlvText(value);
      return undefined;
    case TLV.AUTHORITY:
      tlvs.authority = tlvText(value);
      return undefined;
    case TLV.CRC32C:
      if (value.length !== 4) return 'v2 CRC32C TLV is not 4 bytes';
      tlvs.crc32c = value.readUInt32BE(0);
      return undefined;
    case TLV.NOOP:
      return undefined;
    case TLV.UNIQUE_ID:
      if (value.length > 128) return 'v2 UNIQUE_ID TLV longer than 128 bytes';
      tlvs.uniqueId = tlvText(value);
      return undefined;
    case TLV.SSL: {
      if (value.length < 5) return 'v2 SSL TLV shorter than 5 bytes';
      const sub = parseTlvs(value.subarray(5), true);
      if (typeof sub === 'string') return sub;
      tlvs.ssl = { ...sub.ssl, client: value[0] as number, verify: value.readUInt32BE(1) };
      return undefined;
    }
    case TLV.NETNS:
      tlvs.netns = tlvText(value);
      return undefined;
    case TLV.AWS:
      // Subtype 0x01: the VPC endpoint id (AWS Network Load Balancer, PrivateLink).
      if (value[0] === 0x01) tlvs.awsVpceId = tlvText(value.subarray(1));
      else (tlvs.unknownTypes ??= []).push(type);
      return undefined;
    case TLV.AZURE:
      // Subtype 0x01: the private endpoint's LINKID, a little-endian uint32 (Azure Private Link).
      if (value[0] === 0x01 && value.length === 5) tlvs.azureLinkId = value.readUInt32LE(1);
      else (tlvs.unknownTypes ??= []).push(type);
      return undefined;
    case TLV.GCP:
      // The Private Service Connect connection id, a big-endian uint64.
      if (value.length === 8) tlvs.gcpPscConnectionId = value.readBigUInt64BE(0).toString();
      else (tlvs.unknownTypes ??= []).push(type);
      return undefined;
    default:
      (tlvs.unknownTypes ??= []).push(type);
      return undefined;
  }
}

function readSslSubTlv(holder: ProxyTlvs, type: number, value: Buffer): string | undefined {
  const ssl = (holder.ssl ??= { client: 0, verify: 0 });
  const text = tlvText(value);
  switch (type) {
    case TLV.SSL_VERSION:
      ssl.version = text;
      break;
    case TLV.SSL_CN:
      ssl.commonName = text;
      break;
    case TLV.SSL_CIPHER:
      ssl.cipher = text;
      break;
    case TLV.SSL_SIG_ALG:
      ssl.signatureAlgorithm = text;
      break;
    case TLV.SSL_KEY_ALG:
      ssl.keyAlgorithm = text;
      break;
    default:
      break;
  }
  return undefined;
}
