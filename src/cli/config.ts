/**
 * From parsed flags and environment to a checked configuration, binding nothing: the library
 * options (PEM files read and checked), the admin endpoint, the log settings, and the warnings
 * for settings that do nothing. Both serving and `--check-config` go through here, so what
 * the check accepts is exactly what a start accepts. Every error is a UsageError naming what
 * the person set: the flag or the variable, the file, the listener URL.
 */
import { readFileSync } from 'node:fs';
import { fileErrorReason, InvalidOptionError, invalidOptionMessage, UsageError } from '../core/errors.js';
import { FAULTS, type FaultOptions, httpFaults, parseFault } from '../config/faults.js';
import {
  formatListener,
  HTTP_PROTOCOLS,
  isUnixListener,
  type ListenerOptions,
  ListenUrlError,
  parseListenUrl,
  type ProxyProtocolMode,
} from '../config/listen-url.js';
import { type EchoServerOptions, type ResolvedOptions, resolveOptions, type TlsOptions } from '../config/options.js';
import { tlsMaterialProblem } from '../config/self-signed.js';
import { bindConflict, type BindTarget, hostPort } from '../server/bind-error.js';
import { FLAGS, type FlagValue, httpOptionsFrom, type ParsedCommandLine } from './flags.js';
import type { LogFormat } from './logger.js';
import { configWarnings } from './config-warnings.js';

/** Where the admin endpoint listens unless --admin-host says otherwise: never the pod network by default. */
export const DEFAULT_ADMIN_HOST = '127.0.0.1';

export interface CliConfig {
  /** The library options, without a logger. */
  options: EchoServerOptions;
  /** The same, resolved and checked (defaults filled in). */
  resolved: ResolvedOptions;
  values: Map<string, FlagValue>;
  sources: Map<string, string>;
  admin: { host: string; port: number } | undefined;
  logLevel: string;
  logFormat: LogFormat;
  /** Settings that do nothing here, unknown variables, templates naming unset variables. */
  warnings: string[];
}

/** The flag (or variable) that set `option`, as the person spelled it. */
function sourceOf(parsed: Pick<ParsedCommandLine, 'sources'>, flagName: string): string {
  return parsed.sources.get(flagName) ?? `--${flagName}`;
}

/** Everything checked that can be checked without binding; throws UsageError. */
export function resolveCliConfig(parsed: Pick<ParsedCommandLine, 'values' | 'sources' | 'warnings'>, env: NodeJS.ProcessEnv): CliConfig {
  const { values } = parsed;
  const options: EchoServerOptions = {};
  for (const flag of FLAGS) {
    const value = values.get(flag.name);
    if (flag.option === undefined || flag.option.includes('.') || flag.option === 'listeners' || value === undefined) continue;
    (options as Record<string, FlagValue>)[flag.option] = value;
  }
  const listeners = listenersFrom(values, env, sourceOf(parsed, 'listen'));
  if (listeners !== undefined) options.listeners = listeners;
  // https:// (and wss://) listeners take the same certificate as tls:// ones.
  const tlsListener = (listeners ?? []).some((listener) => listener.protocol === 'tls' || listener.protocol === 'https');
  if (values.get('tls-self-signed') === true && (values.has('tls-cert') || values.has('tls-key'))) {
    throw new UsageError(
      `${sourceOf(parsed, 'tls-self-signed')} contradicts ${sourceOf(parsed, values.has('tls-cert') ? 'tls-cert' : 'tls-key')}: use your certificate or a self-signed one, not both`,
    );
  }
  if (tlsListener && !values.has('tls-cert') && !values.has('tls-key') && values.get('tls-self-signed') !== true) {
    throw new UsageError(
      'a tls:// or https:// listener needs a certificate: give --tls-cert FILE and --tls-key FILE, or --tls-self-signed',
    );
  }
  const clientAuth = values.get('tls-client-auth');
  if (tlsListener && clientAuth !== undefined && clientAuth !== 'none' && !values.has('tls-ca')) {
    throw new UsageError(
      `${sourceOf(parsed, 'tls-client-auth')} ${String(clientAuth)} needs --tls-ca FILE: the CA bundle that signs the client certificates`,
    );
  }
  const tls = tlsListener ? tlsFrom(values, parsed) : undefined;
  if (tls !== undefined) options.tls = tls;
  const http = httpOptionsFrom(values);
  if (http !== undefined) options.http = http;

  let resolved: ResolvedOptions;
  try {
    resolved = resolveOptions(options);
  } catch (err) {
    throw flagError(err, parsed);
  }
  const adminPort = values.get('admin-port') as number | undefined;
  if (adminPort !== undefined && adminPort > 65_535) {
    throw new UsageError(`invalid ${sourceOf(parsed, 'admin-port')}: ${adminPort} (expected an integer from 0 to 65535)`);
  }
  const admin =
    adminPort === undefined ? undefined : { host: (values.get('admin-host') as string | undefined) ?? DEFAULT_ADMIN_HOST, port: adminPort };
  const conflict = bindConflict([
    ...resolved.listeners.filter((listener) => listener.fd === null).map(bindTarget),
    ...(admin !== undefined ? [adminTarget(admin)] : []),
  ]);
  if (conflict !== null) throw new UsageError(conflict.message);
  return {
    options,
    resolved,
    values,
    sources: parsed.sources,
    admin,
    logLevel: (values.get('log-level') as string | undefined) ?? 'info',
    logFormat: (values.get('log-format') as LogFormat | undefined) ?? 'auto',
    warnings: [...parsed.warnings, ...configWarnings(parsed, resolved, env)],
  };
}

/** A resolved listener as bind-error.ts knows sockets. */
export function bindTarget(listener: ResolvedOptions['listeners'][number]): BindTarget {
  const kind = listener.protocol === 'udp' ? 'datagram' : 'stream';
  // Its address is the socket's, known once bound: until then it is the fd systemd passed.
  if (listener.fd !== null) return { label: `fd ${listener.fd} from systemd`, kind, fd: listener.fd };
  if (isUnixListener(listener)) return { label: formatListener(listener), kind, path: listener.path };
  return { label: formatListener(listener), kind, host: listener.host, port: listener.port };
}

export function adminTarget(admin: { host: string; port: number }): BindTarget {
  return {
    label: `the admin endpoint (--admin-port ${admin.port}, ${hostPort(admin.host, admin.port)})`,
    kind: 'stream',
    host: admin.host,
    port: admin.port,
  };
}

/**
 * The listeners: systemd's sockets when it passed some (LISTEN_FDS), else every --listen URL,
 * else undefined (the library's default: one TCP listener on --host/--port).
 */
function listenersFrom(values: Map<string, FlagValue>, env: NodeJS.ProcessEnv, source: string): ListenerOptions[] | undefined {
  const proxyProtocol = values.get('proxy-protocol') as ProxyProtocolMode | undefined;
  const mode = values.get('mode') as 'line' | 'raw' | undefined;
  let faults: FaultOptions | undefined;
  for (const { name } of FAULTS) {
    const value = values.get(name);
    if (value !== undefined) faults = { ...faults, ...parseFault(name, String(value)) };
  }
  const withFaults = (listener: ListenerOptions): ListenerOptions => {
    // http and https listeners take the faults the table applies to http, with an HTTP meaning.
    const given = listener.protocol !== undefined && HTTP_PROTOCOLS.includes(listener.protocol) ? httpFaults(faults) : faults;
    return given === undefined ? listener : { ...listener, faults: { ...given, ...listener.faults } };
  };
  const inherited = socketActivationFds(env);
  if (inherited.length > 0) {
    return inherited.map((fd) =>
      withFaults({
        protocol: 'tcp',
        fd,
        ...(mode !== undefined ? { mode } : {}),
        ...(proxyProtocol !== undefined ? { proxyProtocol } : {}),
      }),
    );
  }
  const urls = listenUrls(values);
  if (urls.length === 0) {
    if ((proxyProtocol === undefined || proxyProtocol === 'off') && faults === undefined) return undefined;
    return [withFaults({ protocol: 'tcp', ...(proxyProtocol !== undefined ? { proxyProtocol } : {}) })];
  }
  return urls.map((url) => withFaults(parseUrl(url, proxyProtocol, source)));
}

function listenUrls(values: Map<string, FlagValue>): string[] {
  return (values.get('listen') as string[] | undefined) ?? [];
}

/** `source` is `--listen` or `ECHOD_LISTEN`: where the URL was given, as the message names it. */
function parseUrl(url: string, proxyProtocol: ProxyProtocolMode | undefined, source: string): ListenerOptions {
  try {
    const listener = parseListenUrl(url);
    if (
      listener.proxyProtocol === undefined &&
      proxyProtocol !== undefined &&
      (listener.protocol === 'tcp' || listener.protocol === 'unix' || listener.protocol === 'http')
    ) {
      listener.proxyProtocol = proxyProtocol;
    }
    return listener;
  } catch (err) {
    if (err instanceof ListenUrlError) {
      // The listeners are separated by spaces in the variable and by repeating the flag; a comma is neither.
      const separator = source.startsWith('--') ? `give ${source} once per listener` : `separate listeners with spaces in ${source}`;
      throw new UsageError(`invalid ${source}: ${err.message}${url.includes(',') ? ` (${separator})` : ''}`);
    }
    throw err;
  }
}

/** systemd socket activation: fds 3… when LISTEN_PID is this process. */
export function socketActivationFds(env: NodeJS.ProcessEnv): number[] {
  const count = Number(env.LISTEN_FDS ?? 0);
  if (env.LISTEN_PID !== String(process.pid) || !Number.isInteger(count) || count <= 0) return [];
  return Array.from({ length: count }, (_, index) => 3 + index);
}

/**
 * The TLS options from --tls-* flags, reading the PEM files (again on SIGHUP) and checking
 * them: each parses, and the key is the certificate's. A bad file is named with its flag.
 */
export function tlsFrom(
  values: Map<string, FlagValue>,
  parsed: Pick<ParsedCommandLine, 'sources'> = { sources: new Map() },
): TlsOptions | undefined {
  const certFile = values.get('tls-cert') as string | undefined;
  const keyFile = values.get('tls-key') as string | undefined;
  const caFile = values.get('tls-ca') as string | undefined;
  const selfSigned = values.get('tls-self-signed') === true;
  if (certFile === undefined && keyFile === undefined && !selfSigned) return undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert and --tls-key go together: give both');
  const read = (flag: string, file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`invalid ${sourceOf(parsed, flag)}: ${file}: ${fileErrorReason(err)}`);
    }
  };
  const tls: TlsOptions = { selfSigned };
  if (certFile !== undefined && keyFile !== undefined) {
    tls.cert = read('tls-cert', certFile);
    tls.key = read('tls-key', keyFile);
  }
  if (caFile !== undefined) tls.ca = read('tls-ca', caFile);
  const problem = tlsMaterialProblem(tls);
  if (problem?.field === 'pair') {
    throw new UsageError(
      `${sourceOf(parsed, 'tls-key')} ${keyFile ?? ''} does not match the certificate in ${sourceOf(parsed, 'tls-cert')} ${certFile ?? ''} (give the key of that certificate)`,
    );
  }
  if (problem !== null) {
    const flag = `tls-${problem.field}`;
    const file = { cert: certFile, key: keyFile, ca: caFile }[problem.field];
    throw new UsageError(`invalid ${sourceOf(parsed, flag)}: ${file ?? ''}: ${problem.reason}`);
  }
  const clientAuth = values.get('tls-client-auth') as TlsOptions['clientAuth'] | undefined;
  if (clientAuth !== undefined) tls.clientAuth = clientAuth;
  const minVersion = values.get('tls-min-version') as TlsOptions['minVersion'] | undefined;
  if (minVersion !== undefined) tls.minVersion = minVersion;
  return tls;
}

/**
 * An InvalidOptionError about a library option, re-worded with what the person set: the flag
 * or variable (`ECHOD_PORT`), or the --listen URL for a listener's field.
 */
export function flagError(err: unknown, parsed: Pick<ParsedCommandLine, 'values' | 'sources'>): unknown {
  if (!(err instanceof InvalidOptionError)) return err;
  const listener = /^listeners\[(\d+)\]/.exec(err.option);
  let named = err.option;
  if (listener !== null) {
    const url = listenUrls(parsed.values)[Number(listener[1])];
    named = url !== undefined ? `${sourceOf(parsed, 'listen')} ${url}` : 'a listener';
  } else {
    const flag = FLAGS.find((candidate) => candidate.option === err.option);
    // A check between two options can blame one the person did not set: say it holds its default.
    if (flag !== undefined) named = parsed.values.has(flag.name) ? sourceOf(parsed, flag.name) : `--${flag.name} (its default)`;
  }
  // Any other option the expectation names (`at least http.headersTimeoutMs`) by its flag too;
  // plain words (host, port, mode) are left alone, as they also read as words. The value is the
  // person's own and is shown as given, and so is a placeholder quoted from it (`{serverId}`).
  let expected = err.expected;
  for (const flag of FLAGS) {
    const option = flag.option;
    if (option === undefined || !/[.A-Z]/.test(option)) continue;
    // Whole names only: maxConnections is also the start of maxConnectionsPerIp.
    expected = expected.replace(new RegExp(`(?<![\\w.{])${option.replaceAll('.', '\\.')}(?!\\w)`, 'g'), `--${flag.name}`);
  }
  const message = invalidOptionMessage(named, err.value, expected);
  return new UsageError(message);
}
