/**
 * Settings that are valid but do nothing in the configuration given: said at start-up (and by
 * --check-config), so that a person does not believe in a limit or a certificate that is not
 * there. Contradictions are refused earlier, in config.ts; these are only warnings.
 */
import { formatListener } from '../config/listen-url.js';
import type { ResolvedOptions } from '../config/options.js';
import type { ParsedCommandLine } from './flags.js';

const TLS_FLAGS = ['tls-cert', 'tls-key', 'tls-ca', 'tls-client-auth', 'tls-min-version', 'tls-self-signed'];
/** Faults that only a udp:// listener applies. */
const UDP_FAULT_FLAGS = ['drop-rate', 'duplicate-rate', 'reorder-window'];
const ENV_PLACEHOLDER = /\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function configWarnings(parsed: Pick<ParsedCommandLine, 'values' | 'sources'>, resolved: ResolvedOptions, env: NodeJS.ProcessEnv): string[] {
  const { values, sources } = parsed;
  const named = (flag: string): string => sources.get(flag) ?? `--${flag}`;
  const protocols = new Set(resolved.listeners.map((listener) => listener.protocol));
  const listenGiven = values.has('listen') || resolved.listeners.some((listener) => listener.fd !== null);
  const warnings: string[] = [];
  // --host still fills in a URL without a host (tcp://:8080); --port never does.
  if (listenGiven && values.has('port')) warnings.push(`${named('port')} has no effect with --listen or socket activation (each listener names its own port)`);
  if (!protocols.has('tls')) {
    for (const flag of TLS_FLAGS.filter((name) => values.has(name))) warnings.push(`${named(flag)} has no effect: there is no tls:// listener`);
  }
  const proxy = values.get('proxy-protocol');
  if (proxy !== undefined && proxy !== 'off' && !protocols.has('tcp') && !protocols.has('unix')) {
    warnings.push(`${named('proxy-protocol')} has no effect: it applies to tcp:// and unix:// listeners (a tls:// listener takes ?proxy=)`);
  }
  if (!protocols.has('udp')) {
    for (const flag of [...UDP_FAULT_FLAGS, 'udp-rate-per-source'].filter((name) => values.has(name))) warnings.push(`${named(flag)} has no effect: there is no udp:// listener`);
  }
  const urls = (values.get('listen') as string[] | undefined) ?? [];
  resolved.listeners.forEach((listener, index) => {
    const url = urls[index];
    if (listener.protocol === 'udp' && url !== undefined && /[?&]mode=/.test(url)) {
      warnings.push(`--listen ${url}: ?mode has no effect on udp (every datagram is echoed whole)`);
    }
    if (listener.protocol !== 'udp' && listener.faults !== null) {
      for (const key of ['dropRate', 'duplicateRate', 'reorderWindow'] as const) {
        if (listener.faults[key] !== undefined && url !== undefined && url.includes(key === 'dropRate' ? 'drop-rate' : key === 'duplicateRate' ? 'duplicate-rate' : 'reorder-window')) {
          warnings.push(`--listen ${url}: udp faults have no effect on ${formatListener(listener)}`);
          break;
        }
      }
    }
  });
  for (const [flag, template] of [
    ['banner', resolved.banner],
    ['prefix', resolved.prefix],
  ] as const) {
    for (const match of template.matchAll(ENV_PLACEHOLDER)) {
      const name = match[1] as string;
      if (env[name] === undefined) warnings.push(`${named(flag)} uses {env:${name}}, but ${name} is not set: it expands to nothing`);
    }
  }
  return warnings;
}
