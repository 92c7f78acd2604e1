/**
 * `--banner` and `--prefix` templates: `{hostname}`, `{pid}`, `{conn_id}`, `{remote}`, `{local}`,
 * `{proxy_source}`, `{time}`, `{server_id}` and `{env:NAME}` (e.g. a Kubernetes pod name).
 * Pure: the template and the values in, bytes out. Unknown names are refused when the template
 * is checked, so a typo fails at start-up instead of echoing `{hostnme}` forever.
 */

export interface TemplateValues {
  hostname: string;
  pid: number;
  server_id: string;
  conn_id: number;
  remote: string;
  local: string;
  proxy_source: string;
  time: string;
  env: NodeJS.ProcessEnv;
}

const PLACEHOLDER = /\{([a-z_]+)(?::([A-Za-z_][A-Za-z0-9_]*))?\}/g;
/** Anything shaped like a placeholder, for checking: `{HOSTNAME}`, `{server-id}`, `{env:my-var}` are typos to refuse, not text. */
const PLACEHOLDER_LIKE = /\{([A-Za-z][A-Za-z0-9_-]*)(?::([^{}\s]*))?\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NAMES: ReadonlySet<string> = new Set(['hostname', 'pid', 'server_id', 'conn_id', 'remote', 'local', 'proxy_source', 'time', 'env']);

/** Every placeholder as a template writes it, `{hostname} … {env:NAME}`: for --help and for the error naming a typo. */
export const PLACEHOLDER_LIST = [...NAMES].map((name) => (name === 'env' ? '{env:NAME}' : `{${name}}`)).join(' ');

/** The placeholder names a template uses that echod does not know, or an empty list. */
export function unknownPlaceholders(template: string): string[] {
  const unknown: string[] = [];
  for (const match of template.matchAll(PLACEHOLDER_LIKE)) {
    const [whole, name = '', argument] = match;
    const known = NAMES.has(name) && (name === 'env' ? argument !== undefined && ENV_NAME.test(argument) : argument === undefined);
    if (!known) unknown.push(whole);
  }
  return unknown;
}

/** Turns `\n`, `\r`, `\t` and `\\` written on a command line into the bytes they name. */
export function unescapeTemplate(text: string): string {
  return text.replace(/\\([nrt\\])/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : '\\'));
}

export function expandTemplate(template: string, values: TemplateValues): string {
  return template.replace(PLACEHOLDER, (whole, name: string, argument: string | undefined) => {
    if (name === 'env') return argument === undefined ? whole : (values.env[argument] ?? '');
    const value = (values as unknown as Record<string, unknown>)[name];
    return typeof value === 'string' || typeof value === 'number' ? String(value) : whole;
  });
}
