// The flag table (src/cli/flags.ts FLAGS) carries the option each flag sets; the admin bounds'
// flags and the TLS flags are found from it, never from a second hand-kept list.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADMIN_LIMIT_FLAGS, adminLimitsFrom, FLAGS, type FlagSpec, HTTP_FLAGS, parseCommandLine } from '../../src/cli/flags.js';
import { resolveCliConfig } from '../../src/cli/config.js';
import { effectiveConfig, formatEffectiveConfig } from '../../src/cli/effective-config.js';
import { DEFAULTS } from '../../src/config/options.js';
import { HTTP_DEFAULTS } from '../../src/config/http-options.js';
import { ADMIN_DEFAULTS } from '../../src/observability/admin-limits.js';

describe('the flag table', () => {
  it('every option a flag names exists: a library option, tls.*, admin.* or listeners', () => {
    for (const flag of FLAGS) {
      if (flag.option === undefined) continue;
      const [head = '', field] = flag.option.split('.');
      if (head === 'admin') assert.ok(field !== undefined && field in ADMIN_DEFAULTS, `--${flag.name}: ${flag.option}`);
      else if (head === 'tls') assert.ok(field !== undefined, `--${flag.name}: ${flag.option}`);
      else if (head === 'http') assert.ok(field !== undefined && field in HTTP_DEFAULTS, `--${flag.name}: ${flag.option}`);
      else assert.ok(head in DEFAULTS || head === 'listeners' || head === 'serverId', `--${flag.name}: ${flag.option}`);
    }
  });

  it('the configuration summaries show every flag given a value not its default, from the table; defaults stay out', () => {
    /** A value other than the flag's default, as a person would type it. */
    const otherValue = (flag: FlagSpec): string[] => {
      const { kind } = flag;
      if (typeof kind === 'object') return [`--${flag.name}`, kind.oneOf.find((value) => value !== flag.shown) as string];
      if (kind === 'boolean') return [`--${flag.name}`];
      if (kind === 'onOff') return [`--${flag.name}`, flag.shown === 'on' ? 'off' : 'on'];
      const text = { size: '7KiB', duration: '20s', integer: '7', string: 'x' }[kind as string];
      assert.ok(text !== undefined, `--${flag.name}: a value of kind ${String(kind)}`);
      return [`--${flag.name}`, text];
    };
    const summarized = FLAGS.filter((flag) => flag.summary === undefined);
    for (const name of ['log-level', 'log-format', 'max-line-bytes', 'admin-max-connections', 'udp-rate-per-source'])
      assert.ok(
        summarized.some((flag) => flag.name === name),
        `--${name} is among the options`,
      );
    for (const flag of summarized) {
      const argv = otherValue(flag);
      const config = resolveCliConfig(parseCommandLine(argv, {}), {});
      const summary = effectiveConfig(config, config.resolved, 1);
      assert.deepEqual(Object.keys(summary.options), [flag.name], argv.join(' '));
      assert.ok(
        formatEffectiveConfig(summary)
          .split('\n')
          .includes(`  ${argv.join(' ')}`),
        argv.join(' '),
      );
    }
    // Given, but the default written another way: not shown.
    const defaults = ['--log-level', 'info', '--idle-timeout', '300s', '--max-line-bytes', '1048576', '--direct-read', 'on'];
    const config = resolveCliConfig(parseCommandLine(defaults, {}), {});
    assert.deepEqual(effectiveConfig(config, config.resolved, 1).options, {});
  });

  it('ADMIN_LIMIT_FLAGS is derived from it and covers every admin bound', () => {
    assert.deepEqual(Object.keys(ADMIN_LIMIT_FLAGS).sort(), Object.keys(ADMIN_DEFAULTS).sort());
    for (const [option, name] of Object.entries(ADMIN_LIMIT_FLAGS)) {
      assert.equal(FLAGS.find((flag) => flag.name === name)?.option, `admin.${option}`);
    }
    assert.equal(adminLimitsFrom(parseCommandLine(['--admin-max-page-size', '7'], {}).values).maxPageSize, 7);
  });

  it('every http bound and control has its flag, and each reaches the library option', () => {
    const covered = new Set(HTTP_FLAGS.map((flag) => (flag.option as string).slice('http.'.length)));
    assert.deepEqual([...covered].sort(), Object.keys(HTTP_DEFAULTS).sort());
    const { resolved } = resolveCliConfig(
      parseCommandLine(
        [
          '--listen',
          'http://127.0.0.1:0',
          '--max-body-bytes',
          '1KiB',
          '--http-controls',
          'off',
          '--http-headers-timeout',
          '2s',
          '--ws-deflate',
          '--http2-max-streams',
          '7',
        ],
        {},
      ),
      {},
    );
    assert.equal(resolved.http.maxBodyBytes, 1024);
    assert.equal(resolved.http.controls, false);
    assert.equal(resolved.http.headersTimeoutMs, 2000);
    assert.equal(resolved.http.wsDeflate, true);
    assert.equal(resolved.http.maxConcurrentStreams, 7);
  });

  it('every flag that acts on some kinds of listener is warned about without them, from the table', () => {
    const urls = { stream: 'tcp://127.0.0.1:0', udp: 'udp://127.0.0.1:0', http: 'http://127.0.0.1:0' } as const;
    const kinds = Object.keys(urls) as (keyof typeof urls)[];
    const scoped = FLAGS.filter((flag) => flag.appliesTo !== undefined && flag.kind !== 'fault');
    for (const name of ['max-line-bytes', 'digest', 'banner', 'mode', 'max-body-bytes', 'udp-rate-per-source'])
      assert.ok(
        scoped.some((flag) => flag.name === name),
        `--${name} says where it acts`,
      );
    for (const flag of scoped) {
      const value =
        typeof flag.kind === 'object'
          ? [flag.kind.oneOf.at(-1) as string]
          : flag.kind === 'boolean'
            ? []
            : flag.kind === 'onOff'
              ? ['off']
              : flag.kind === 'string'
                ? ['x']
                : flag.kind === 'duration'
                  ? ['20s']
                  : flag.kind === 'size'
                    ? ['7KiB']
                    : ['7'];
      for (const kind of kinds) {
        const argv = ['--listen', urls[kind], `--${flag.name}`, ...value];
        const { warnings } = resolveCliConfig(parseCommandLine(argv, {}), {});
        const idle = warnings.filter((warning) => warning.startsWith(`--${flag.name} has no effect`));
        assert.equal(idle.length, flag.appliesTo?.includes(kind) === true ? 0 : 1, `${argv.join(' ')}: ${JSON.stringify(warnings)}`);
      }
    }
  });

  it('every tls.* flag is warned about without a tls:// listener', () => {
    const tlsFlags = FLAGS.filter((flag) => flag.option?.startsWith('tls.') === true);
    assert.ok(tlsFlags.length > 0);
    for (const flag of tlsFlags) {
      const argv =
        flag.kind === 'boolean'
          ? [`--${flag.name}`]
          : [`--${flag.name}`, typeof flag.kind === 'object' ? (flag.kind.oneOf[0] as string) : '/nonexistent'];
      const { warnings } = resolveCliConfig(parseCommandLine(argv, {}), {});
      assert.ok(
        warnings.includes(`--${flag.name} has no effect: there is no tls:// or https:// listener`),
        `--${flag.name}: ${warnings.join('; ')}`,
      );
    }
  });
});
