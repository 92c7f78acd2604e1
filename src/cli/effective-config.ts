/**
 * The configuration as it will run, said briefly: each listener as a URL with what sets it
 * apart, and every other flag whose value is not its default, by flag name, read off the flag
 * table (a flag's `summary` says when it shows elsewhere: in a listener, the tls, admin or
 * workers line). The start-up log line and `--check-config` both print this, so they agree.
 * Never key material.
 */
import { formatListener, HTTP_PROTOCOLS } from '../config/listen-url.js';
import type { ResolvedOptions } from '../config/options.js';
import type { CliConfig } from './config.js';
import { FLAGS, flagText } from './flags.js';

export interface EffectiveConfig {
  /** `tcp://0.0.0.0:8080 mode=line`, `udp://[::]:8080`, `tls://0.0.0.0:8443 mode=raw proxy=optional faults=…`. */
  listeners: string[];
  /** Flag name → value as the flag takes it (a count as a number), for the flags whose value is not the default. */
  options: Record<string, string | number>;
  /** How tls listeners get their certificate, when there are any. */
  tls?: string;
  /** `127.0.0.1:9090` when the admin endpoint is on. */
  admin?: string;
  /** Processes serving (--workers). */
  workers: number;
}

/**
 * `resolved` is the library's view of `config` (a server's options, or `config.resolved`);
 * `workers` is the number of processes serving.
 */
export function effectiveConfig(config: Pick<CliConfig, 'values' | 'admin'>, resolved: ResolvedOptions, workers: number): EffectiveConfig {
  const listeners = resolved.listeners.map((listener) => {
    const parts = [listener.fd !== null ? `${listener.protocol} fd ${listener.fd}` : formatListener(listener)];
    // mode is the byte echo's: udp echoes datagrams, http and https answer requests.
    if (listener.protocol !== 'udp' && !HTTP_PROTOCOLS.includes(listener.protocol)) parts.push(`mode=${listener.mode}`);
    if (listener.proxyProtocol !== 'off') parts.push(`proxy=${listener.proxyProtocol}`);
    if (listener.faults !== null) parts.push(`faults=${JSON.stringify(listener.faults)}`);
    return parts.join(' ');
  });
  const options: Record<string, string | number> = {};
  for (const flag of FLAGS) {
    const value = config.values.get(flag.name);
    if (flag.summary !== undefined || value === undefined) continue;
    // Compared as text: --idle-timeout 300s is the default 5m; --server-id (default: the host name) always shows.
    const text = flagText(flag, value);
    if (text === flag.shown) continue;
    options[flag.name] = flag.kind === 'integer' && typeof value === 'number' ? value : text;
  }
  const summary: EffectiveConfig = { listeners, options, workers };
  const { tls } = resolved;
  if (tls !== null) {
    const source = tls.cert !== null ? 'certificate from --tls-cert' : 'self-signed certificate';
    summary.tls = `${source}, client certificates ${tls.clientAuth === 'none' ? 'not asked for' : tls.clientAuth === 'request' ? 'requested' : 'required'}, ${tls.minVersion} or later`;
  }
  const { admin } = config;
  if (admin !== undefined) summary.admin = `${admin.host.includes(':') ? `[${admin.host}]` : admin.host}:${admin.port}`;
  return summary;
}

/** The effective configuration as text, one item a line (for --check-config). */
export function formatEffectiveConfig(config: EffectiveConfig): string {
  const lines = ['listeners:', ...config.listeners.map((listener) => `  ${listener}`)];
  const options = Object.entries(config.options);
  lines.push(
    options.length === 0 ? 'options: all defaults' : 'options (not the default):',
    // A switch (--ws-deflate) is shown as given, without a value it does not take.
    ...options.map(([flag, value]) => `  --${flag}${FLAGS.find((spec) => spec.name === flag)?.arg === '' ? '' : ` ${String(value)}`}`),
  );
  if (config.tls !== undefined) lines.push(`tls: ${config.tls}`);
  lines.push(`admin endpoint: ${config.admin ?? 'off'}`, `workers: ${config.workers}`);
  return lines.join('\n');
}
