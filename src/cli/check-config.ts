/**
 * `echod --check-config` (or `echod config check`), as `nginx -t` and `haproxy -c`: the
 * configuration has been checked by then (flags, environment, listener URLs, TLS files,
 * templates, address clashes) and nothing is bound; this prints the warnings on stderr and
 * the effective configuration on stdout, and says the exit code.
 */
import type { CliConfig } from './config.js';
import { effectiveConfig, formatEffectiveConfig } from './effective-config.js';
import { versionLine } from './flags.js';

export function checkConfig(
  config: CliConfig,
  io: { stdout: { write(text: string): unknown }; stderr: { write(text: string): unknown } },
  version: string,
  workers: number,
): number {
  for (const warning of config.warnings) io.stderr.write(`echod: warning: ${warning}\n`);
  const text = formatEffectiveConfig(effectiveConfig(config, config.resolved, workers));
  io.stdout.write(`${versionLine(version)}\n${text}\nconfiguration OK\n`);
  return 0;
}
