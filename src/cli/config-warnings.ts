/**
 * Settings that are valid but do nothing in the configuration given: said at start-up (and by
 * --check-config), so that a person does not believe in a limit or a certificate that is not
 * there. Contradictions are refused earlier, in config.ts; these are only warnings.
 */
import { FAULTS, HTTP_FAULTS, type ListenerKind, parseFault, refusedOnHttp } from '../config/faults.js';
import { formatListener, HTTP_PROTOCOLS } from '../config/listen-url.js';
import type { ResolvedOptions } from '../config/options.js';
import { FLAGS, type ParsedCommandLine } from './flags.js';

/** The flags that set a `tls.*` option: they act on tls:// and https:// listeners only. */
const TLS_FLAGS = FLAGS.filter((flag) => flag.option?.startsWith('tls.') === true).map((flag) => flag.name);
/** The schemes of each kind of listener, as a warning names them. */
const KIND_SCHEMES: Readonly<Record<ListenerKind, readonly string[]>> = {
  stream: ['tcp://', 'tls://', 'unix://'],
  udp: ['udp://'],
  http: ['http://', 'https://'],
};
/** `tcp://, tls:// or unix://`: the listeners of these kinds. */
function listenersOf(kinds: readonly ListenerKind[]): string {
  const schemes = kinds.flatMap((kind) => KIND_SCHEMES[kind]);
  return schemes.length === 1 ? (schemes[0] as string) : `${schemes.slice(0, -1).join(', ')} or ${schemes.at(-1) as string}`;
}
const kindOf = (protocol: string): ListenerKind =>
  protocol === 'udp' ? 'udp' : HTTP_PROTOCOLS.includes(protocol as never) ? 'http' : 'stream';
const ENV_PLACEHOLDER = /\{env:([A-Za-z_][A-Za-z0-9_]*)\}/g;

export function configWarnings(
  parsed: Pick<ParsedCommandLine, 'values' | 'sources'>,
  resolved: ResolvedOptions,
  env: NodeJS.ProcessEnv,
): string[] {
  const { values, sources } = parsed;
  const named = (flag: string): string => sources.get(flag) ?? `--${flag}`;
  const protocols = new Set(resolved.listeners.map((listener) => listener.protocol));
  const listenGiven = values.has('listen') || resolved.listeners.some((listener) => listener.fd !== null);
  const warnings: string[] = [];
  // --host still fills in a URL without a host (tcp://:8080); --port never does.
  if (listenGiven && values.has('port'))
    warnings.push(`${named('port')} has no effect with --listen or socket activation (each listener names its own port)`);
  if (!protocols.has('tls') && !protocols.has('https')) {
    for (const flag of TLS_FLAGS.filter((name) => values.has(name)))
      warnings.push(`${named(flag)} has no effect: there is no tls:// or https:// listener`);
  }
  const kinds = new Set([...protocols].map(kindOf));
  // The flag table says which kinds of listener each flag acts on (the faults are below: http has its own rules for them).
  for (const flag of FLAGS) {
    if (flag.kind === 'fault' || flag.appliesTo === undefined || !values.has(flag.name)) continue;
    if (!flag.appliesTo.some((kind) => kinds.has(kind)))
      warnings.push(`${named(flag.name)} has no effect: there is no ${listenersOf(flag.appliesTo)} listener`);
  }
  // The admin endpoint's address and bounds: there is no endpoint unless --admin-port opens one.
  if (!values.has('admin-port')) {
    for (const flag of FLAGS.filter((spec) => spec.name.startsWith('admin-') && values.has(spec.name)))
      warnings.push(`${named(flag.name)} has no effect: there is no admin endpoint (set --admin-port)`);
  }
  const proxy = values.get('proxy-protocol');
  if (proxy !== undefined && proxy !== 'off' && !protocols.has('tcp') && !protocols.has('unix') && !protocols.has('http')) {
    warnings.push(
      `${named('proxy-protocol')} has no effect: it applies to tcp://, unix:// and http:// listeners (tls:// and https:// ones take ?proxy=)`,
    );
  }
  // With http listeners, a stream fault they do not apply gets the http warning below instead.
  const notOnHttp = kinds.has('http')
    ? FAULTS.filter((spec) => values.has(spec.name) && spec.appliesTo.includes('stream') && !spec.appliesTo.includes('http'))
    : [];
  for (const fault of FAULTS.filter(
    (spec) => values.has(spec.name) && !spec.appliesTo.some((kind) => kinds.has(kind)) && !notOnHttp.includes(spec),
  )) {
    warnings.push(`${named(fault.name)} has no effect: there is no ${listenersOf(fault.appliesTo)} listener`);
  }
  const httpTake = HTTP_FAULTS.map((fault) => `--${fault.name}`).join(', ');
  for (const fault of notOnHttp)
    warnings.push(`${named(fault.name)} has no effect on http:// and https:// listeners (they take ${httpTake} only)`);
  if (kinds.has('http')) {
    // A value the table gives no HTTP meaning (close-after lines=N) reaches the other listeners only.
    for (const fault of HTTP_FAULTS.filter((spec) => values.has(spec.name))) {
      const refused = refusedOnHttp(fault, parseFault(fault.name, String(values.get(fault.name))));
      if (refused !== null) warnings.push(`${named(fault.name)} has no effect on http:// and https:// listeners: ${refused}`);
    }
  }
  const urls = (values.get('listen') as string[] | undefined) ?? [];
  resolved.listeners.forEach((listener, index) => {
    const url = urls[index];
    if (listener.protocol === 'udp' && url !== undefined && /[?&]mode=/.test(url)) {
      warnings.push(`${named('listen')} ${url}: ?mode has no effect on udp (every datagram is echoed whole)`);
    }
    const { faults } = listener;
    const kind = kindOf(listener.protocol);
    if (faults !== null && url !== undefined) {
      // Only the faults this URL names: a flag's faults reach every listener and are warned about above.
      const idle = FAULTS.filter(
        (fault) =>
          !fault.appliesTo.includes(kind) &&
          faults[fault.option] !== undefined &&
          new URLSearchParams(url.split('?')[1] ?? '').has(fault.name),
      );
      if (idle.length > 0)
        warnings.push(
          `${named('listen')} ${url}: ${kind === 'udp' ? 'stream' : 'udp'} faults have no effect on ${formatListener(listener)}`,
        );
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
