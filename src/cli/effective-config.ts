/**
 * The configuration as it will run, said briefly: each listener as a URL with what sets it
 * apart, and only the options that differ from their defaults, by flag name. The start-up log
 * line and `--check-config` both print this, so they agree. Never key material.
 */
import { HTTP_DEFAULTS } from '../config/http-options.js';
import { formatListener, HTTP_PROTOCOLS } from '../config/listen-url.js';
import { DEFAULTS, defaultServerId, type ResolvedOptions } from '../config/options.js';
import { formatBytes, formatDurationMs } from '../core/units.js';
import { FLAGS } from './flags.js';

export interface EffectiveConfig {
  /** `tcp://0.0.0.0:8080 mode=line`, `udp://[::]:8080`, `tls://0.0.0.0:8443 mode=raw proxy=optional faults=…`. */
  listeners: string[];
  /** Flag name → value, for the options whose value is not the default. */
  options: Record<string, string | number | boolean>;
  /** How tls listeners get their certificate, when there are any. */
  tls?: string;
  /** `127.0.0.1:9090` when the admin endpoint is on. */
  admin?: string;
}

export function effectiveConfig(resolved: ResolvedOptions, admin: { host: string; port: number } | undefined): EffectiveConfig {
  const listeners = resolved.listeners.map((listener) => {
    const parts = [listener.fd !== null ? `${listener.protocol} fd ${listener.fd}` : formatListener(listener)];
    // mode is the byte echo's: udp echoes datagrams, http and https answer requests.
    if (listener.protocol !== 'udp' && !HTTP_PROTOCOLS.includes(listener.protocol)) parts.push(`mode=${listener.mode}`);
    if (listener.proxyProtocol !== 'off') parts.push(`proxy=${listener.proxyProtocol}`);
    if (listener.faults !== null) parts.push(`faults=${JSON.stringify(listener.faults)}`);
    return parts.join(' ');
  });
  const options: Record<string, string | number | boolean> = {};
  const defaults = { ...DEFAULTS, serverId: defaultServerId() };
  for (const flag of FLAGS) {
    // host, port and mode show in the listeners.
    if (flag.option === undefined || !(flag.option in defaults) || ['host', 'port', 'mode'].includes(flag.option)) continue;
    const key = flag.option as keyof typeof defaults;
    const value = resolved[key];
    if (value === defaults[key]) continue;
    options[flag.name] =
      flag.kind === 'size' && typeof value === 'number'
        ? formatBytes(value)
        : flag.kind === 'duration' && typeof value === 'number'
          ? formatDurationMs(value)
          : flag.kind === 'onOff' && typeof value === 'boolean'
            ? value
              ? 'on'
              : 'off'
            : value;
  }
  for (const flag of FLAGS) {
    // The http listeners' bounds: http.maxBodyBytes and the like, shown by their flags too.
    if (flag.option?.startsWith('http.') !== true) continue;
    const key = flag.option.slice('http.'.length) as keyof typeof HTTP_DEFAULTS;
    const value = resolved.http[key];
    if (value === HTTP_DEFAULTS[key]) continue;
    options[flag.name] =
      flag.kind === 'size' && typeof value === 'number'
        ? formatBytes(value)
        : flag.kind === 'duration' && typeof value === 'number'
          ? formatDurationMs(value)
          : typeof flag.kind === 'object' && typeof value === 'boolean'
            ? value
              ? 'on'
              : 'off'
            : value;
  }
  const config: EffectiveConfig = { listeners, options };
  const { tls } = resolved;
  if (tls !== null) {
    const source = tls.cert !== null ? 'certificate from --tls-cert' : 'self-signed certificate';
    config.tls = `${source}, client certificates ${tls.clientAuth === 'none' ? 'not asked for' : tls.clientAuth === 'request' ? 'requested' : 'required'}, ${tls.minVersion} or later`;
  }
  if (admin !== undefined) config.admin = `${admin.host.includes(':') ? `[${admin.host}]` : admin.host}:${admin.port}`;
  return config;
}

/** The effective configuration as text, one item a line (for --check-config). */
export function formatEffectiveConfig(config: EffectiveConfig): string {
  const lines = ['listeners:', ...config.listeners.map((listener) => `  ${listener}`)];
  const options = Object.entries(config.options);
  lines.push(
    options.length === 0 ? 'options: all defaults' : 'options (not the default):',
    ...options.map(([flag, value]) => `  --${flag} ${String(value)}`),
  );
  if (config.tls !== undefined) lines.push(`tls: ${config.tls}`);
  lines.push(`admin endpoint: ${config.admin ?? 'off'}`);
  return lines.join('\n');
}
