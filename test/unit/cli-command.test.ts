// The command helper (src/cli/command.ts): typed values from one declaration, the generated --help,
// and usage errors that name the flag and exit 2. Then every real command's declaration, and the
// flags the chart, the tests and the benchmark pass to `run`.

import { describe, expect, it } from 'vitest';
import {
  type Command,
  defineCommand,
  type FlagDecls,
  formatBytes,
  formatDuration,
  parseBytes,
  parseDuration,
} from '../../src/cli/command.ts';
import { runCli } from '../../src/cli/run.ts';
import { crdsCli } from '../../src/dev/crds.ts';
import { emulatorCli } from '../../src/dev/emulator.ts';
import { playgroundCli } from '../../src/dev/playground.ts';
import { testenvCli } from '../../src/dev/testenv.ts';

function capture(env: Record<string, string | undefined> = {}) {
  const io = { out: '', err: '' };
  return {
    io,
    sink: { out: (t: string) => (io.out += t), err: (t: string) => (io.err += t), env },
  };
}

const demo = defineCommand({
  name: 'demo',
  description: 'A command for the tests.',
  flags: {
    name: { type: 'string', metavar: 'NAME', description: 'a name' },
    mode: { type: 'string', choices: ['fast', 'slow'], default: 'fast', description: 'how' },
    count: { type: 'number', integer: true, min: 1, max: 9, default: 3, description: 'how many' },
    ratio: { type: 'number', description: 'any number' },
    wait: { type: 'duration', default: 90_000, description: 'how long' },
    tags: { type: 'list', description: 'tags' },
    verbose: { type: 'boolean', short: 'v', description: 'say more' },
    elect: { type: 'boolean', default: true, description: 'take a lease' },
    ns: { type: 'string', env: ['DEMO_NS', 'POD_NS'], default: 'default', description: 'namespace' },
  },
  footer: 'The end.',
});

const needs = defineCommand({
  name: 'needs',
  args: '<thing>',
  flags: {
    region: { type: 'string', required: true, env: ['AWS_REGION'], description: 'Region' },
    token: { type: 'string', required: true, description: 'a token' },
  },
});

function ok<F extends FlagDecls>(cmd: Command<F>, args: string[], env = {}) {
  const { io, sink } = capture(env);
  const parsed = cmd.parse(args, sink);
  if (!parsed.ok) throw new Error(`parse failed: ${io.err}`);
  expect(io).toEqual({ out: '', err: '' });
  return parsed;
}

function usageError<F extends FlagDecls>(cmd: Command<F>, args: string[], env = {}): string {
  const { io, sink } = capture(env);
  expect(cmd.parse(args, sink)).toEqual({ ok: false, exitCode: 2 });
  expect(io.out).toBe('');
  return io.err;
}

describe('defineCommand: values', () => {
  it('gives defaults, typed, when no flag is passed', () => {
    const { values, positionals } = ok(demo, []);
    expect(values).toEqual({
      name: undefined,
      mode: 'fast',
      count: 3,
      ratio: undefined,
      wait: 90_000,
      tags: [],
      verbose: false,
      elect: true,
      ns: 'default',
    });
    expect(positionals).toEqual([]);
  });

  it('converts each type: string, choice, number, duration (ms), list, boolean', () => {
    const { values } = ok(demo, [
      '--name',
      'x',
      '--mode=slow',
      '--count',
      '7',
      '--ratio=-0.5',
      '--wait',
      '1.5s',
      '--tags',
      'a, b,,c',
      '--tags=d',
      '-v',
    ]);
    expect(values).toMatchObject({
      name: 'x',
      mode: 'slow',
      count: 7,
      ratio: -0.5,
      wait: 1500,
      tags: ['a', 'b', 'c', 'd'],
      verbose: true,
    });
  });

  it('the last of a repeated flag wins; `--` ends the flags', () => {
    expect(ok(demo, ['--name', 'a', '--name', 'b']).values.name).toBe('b');
    const { values, positionals } = ok(needs, ['--region', 'r', '--token', 't', '--', '--token']);
    expect(values.token).toBe('t');
    expect(positionals).toEqual(['--token']);
  });

  it('booleans: --x, --x=true, --x true on; --x=false, --x false, --no-x off', () => {
    for (const args of [['--elect'], ['--elect=true'], ['--elect', 'true'], ['--no-elect', '--elect']])
      expect(ok(demo, args).values.elect, args.join(' ')).toBe(true);
    for (const args of [['--elect=false'], ['--elect', 'false'], ['--no-elect'], ['--elect', '--no-elect']])
      expect(ok(demo, args).values.elect, args.join(' ')).toBe(false);
    expect(ok(demo, ['-v', 'false']).values.verbose).toBe(false);
  });

  it('a boolean followed by any other word leaves the word alone (a positional)', () => {
    const { values, positionals } = ok(needs, ['--region=r', '--token=t', 'thing']);
    expect(values).toEqual({ region: 'r', token: 't' });
    expect(positionals).toEqual(['thing']);
    const withBool = defineCommand({
      name: 'b',
      args: '<x>',
      flags: { all: { type: 'boolean', short: 'A', description: 'all' } },
    });
    expect(ok(withBool, ['-A', 'status'])).toMatchObject({ values: { all: true }, positionals: ['status'] });
  });

  it('environment variables fill absent flags, before the default; empty ones do not count', () => {
    expect(ok(demo, [], { POD_NS: 'pod' }).values.ns).toBe('pod');
    expect(ok(demo, [], { DEMO_NS: 'first', POD_NS: 'pod' }).values.ns).toBe('first');
    expect(ok(demo, [], { DEMO_NS: '', POD_NS: 'pod' }).values.ns).toBe('pod');
    expect(ok(demo, ['--ns', 'flag'], { DEMO_NS: 'env' }).values.ns).toBe('flag');
    expect(ok(needs, ['--token', 't'], { AWS_REGION: 'eu-west-1' }).values.region).toBe('eu-west-1');
  });

  it('a value may start with a dash when attached with =', () => {
    expect(ok(demo, ['--name=-x']).values.name).toBe('-x');
  });
});

describe('defineCommand: usage errors exit 2 and name the flag', () => {
  const hint = (cmd: string) => `usage: ${cmd}`;

  it('an unknown flag', () => {
    const err = usageError(demo, ['--bogus']);
    expect(err).toContain("Unknown option '--bogus'");
    expect(err).toContain(hint('demo [options]'));
    expect(err).toContain('demo --help');
    expect(usageError(demo, ['-q'])).toContain("'-q'");
    expect(usageError(demo, ['--no-name'])).toContain("'--no-name'");
  });

  it('a missing value', () => {
    expect(usageError(demo, ['--name'])).toContain('--name');
    expect(usageError(demo, ['--name', '--count', '2'])).toContain('--name');
  });

  it('a bad number, out of range, not an integer, empty', () => {
    expect(usageError(demo, ['--count', 'x'])).toContain('--count: must be an integer from 1 to 9, got "x"');
    expect(usageError(demo, ['--count', '0'])).toContain('--count: must be an integer from 1 to 9, got "0"');
    expect(usageError(demo, ['--count', '2.5'])).toContain('--count');
    expect(usageError(demo, ['--count='])).toContain('--count');
    expect(usageError(demo, ['--ratio', 'NaN'])).toContain('--ratio: must be a number, got "NaN"');
  });

  it('a bad duration', () => {
    expect(usageError(demo, ['--wait', '10'])).toContain('--wait: "10" is not a duration');
    expect(usageError(demo, ['--wait', '5 min'])).toContain('--wait');
  });

  it('a value not among the choices', () => {
    expect(usageError(demo, ['--mode', 'medium'])).toContain('--mode: "medium" is not one of fast, slow');
  });

  it('a boolean given anything but true or false, never silently on', () => {
    for (const v of ['fals', 'no', '0', 'False', ''])
      expect(usageError(demo, [`--elect=${v}`])).toContain(`--elect: takes true or false, got "${v}"`);
    expect(usageError(demo, ['--no-elect=false'])).toContain('--no-elect: takes no value');
  });

  it('a positional where none is declared', () => {
    expect(usageError(demo, ['extra'])).toContain("'extra'");
    // `--elect fals`: not a boolean word, so a positional, which demo refuses.
    expect(usageError(demo, ['--elect', 'fals'])).toContain("'fals'");
  });

  it('a required flag, absent, names it and its environment variable', () => {
    expect(usageError(needs, ['--token', 't'])).toContain('--region is required (or set $AWS_REGION)');
    expect(usageError(needs, ['--region', 'r'])).toContain('--token is required');
  });

  it('a bad environment value names the variable and the flag', () => {
    const cmd = defineCommand({ name: 'e', flags: { n: { type: 'number', env: ['N'], description: 'n' } } });
    expect(usageError(cmd, [], { N: 'many' })).toContain('$N (for --n): must be a number, got "many"');
  });

  it('declarations cannot shadow --help or the --no- prefix', () => {
    expect(() =>
      defineCommand({ name: 'x', flags: { help: { type: 'boolean', description: '' } } }),
    ).toThrow();
    expect(() =>
      defineCommand({ name: 'x', flags: { 'no-x': { type: 'string', description: '' } } }),
    ).toThrow();
  });
});

describe('defineCommand: --help', () => {
  it('-h and --help print the help on stdout and exit 0, whatever else is on the line', () => {
    for (const args of [['--help'], ['-h'], ['--count', '2', '--help']]) {
      const { io, sink } = capture();
      expect(demo.parse(args, sink)).toEqual({ ok: false, exitCode: 0 });
      expect(io).toEqual({ out: demo.help(), err: '' });
    }
  });

  it('lists every flag with its metavar and default, the description, the footer and the boolean rule', () => {
    const help = demo.help();
    expect(help.startsWith('usage: demo [options]\n\nA command for the tests.\n\noptions:\n')).toBe(true);
    for (const line of [
      /--name NAME +a name\n/,
      /--mode VALUE +how \(one of fast\|slow; default fast\)\n/,
      /--count N +how many \(default 3\)\n/,
      /--ratio N +any number\n/,
      /--wait DURATION +how long \(default 90s\)\n/,
      /--tags A,B +tags\n/,
      /-v, --verbose +say more\n/,
      /--elect +take a lease \(default true\)\n/,
      /--ns VALUE +namespace \(default \$DEMO_NS, else \$POD_NS, else default\)\n/,
      /-h, --help +show this help\n/,
    ])
      expect(help).toMatch(line);
    expect(help).toContain('--x=false or --no-x turns it off');
    expect(help.endsWith('\nThe end.\n')).toBe(true);
    expect(needs.help()).toContain('usage: needs <thing> [options]');
    expect(needs.help()).toMatch(/--region VALUE +Region \(default \$AWS_REGION; required\)/);
  });
});

describe('durations', () => {
  it('parse and format', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(() => parseDuration('1d')).toThrow('not a duration');
    expect(formatDuration(600_000)).toBe('10m');
    expect(formatDuration(15_000)).toBe('15s');
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(1500)).toBe('1500ms');
    expect(formatDuration(0)).toBe('0ms');
  });
});

describe('sizes', () => {
  it('parse as Kubernetes quantities and format in the largest whole binary unit', () => {
    expect(parseBytes('240Mi')).toBe(240 * 2 ** 20);
    expect(parseBytes('1.5Gi')).toBe(1.5 * 2 ** 30);
    expect(parseBytes('500M')).toBe(500_000_000);
    expect(parseBytes('0')).toBe(0);
    expect(parseBytes('1048576')).toBe(2 ** 20);
    expect(() => parseBytes('240MB')).toThrow('not a size: use e.g. 256Mi');
    expect(() => parseBytes('-1Mi')).toThrow('not a size');
    expect(formatBytes(240 * 2 ** 20)).toBe('240Mi');
    expect(formatBytes(2 ** 30)).toBe('1Gi');
    expect(formatBytes(1000)).toBe('1000');
    expect(formatBytes(0)).toBe('0');
  });

  it('a bad size names the flag and the form it takes', () => {
    const cmd = defineCommand({
      name: 'x',
      flags: { limit: { type: 'bytes', default: 0, description: 'a size' } },
    });
    expect(usageError(cmd, ['--limit', '2 GB'])).toContain('--limit: "2 GB" is not a size');
    expect(ok(cmd, ['--limit=64Mi']).values.limit).toBe(64 * 2 ** 20);
    expect(cmd.help()).toMatch(/--limit SIZE +a size/);
  });
});

describe('every command declares its flags once: the help shows each with its default', () => {
  const commands = { runCli, crdsCli, emulatorCli, playgroundCli, testenvCli };
  for (const [name, cmd] of Object.entries(commands)) {
    it(name, () => {
      const help = cmd.help();
      for (const [flag, decl] of Object.entries(cmd.spec.flags as FlagDecls)) {
        const line = help.split('\n').find((l) => l.includes(`--${flag} `) || l.endsWith(`--${flag}`));
        expect(line, `--${flag}`).toBeDefined();
        const rest = help.slice(help.indexOf(line!));
        const shown =
          decl.defaultText ??
          (decl.type === 'duration' && decl.default !== undefined
            ? formatDuration(decl.default)
            : undefined) ??
          (decl.type === 'bytes' && decl.default !== undefined ? formatBytes(decl.default) : undefined) ??
          (decl.default !== undefined && decl.default !== false ? String(decl.default) : undefined);
        if (shown !== undefined)
          expect(rest.slice(0, 400).replace(/\s+/g, ' '), `--${flag}`).toContain(shown);
      }
    });
  }
});

describe('run: the flags its callers pass', () => {
  const parse = (args: string[], env = {}) => ok(runCli, args, env).values;

  it('the defaults', () => {
    expect(parse([], {})).toMatchObject({
      namespaces: [],
      concurrency: 4,
      resync: 600_000,
      'health-address': ':8081',
      'metrics-address': ':8080',
      'leader-elect': true,
      'leader-election-namespace': 'default',
      'leader-election-name': 'cmk-operator',
      'lease-duration': 15_000,
      'renew-deadline': 10_000,
      'retry-period': 2_000,
      'cluster-name': 'cluster',
      region: undefined,
    });
    expect(parse([], { POD_NAMESPACE: 'ops', AWS_DEFAULT_REGION: 'eu-west-1' })).toMatchObject({
      'leader-election-namespace': 'ops',
      region: 'eu-west-1',
    });
  });

  it("the chart's deployment args (--flag=value)", () => {
    expect(
      parse([
        '--namespaces=a,b',
        '--selector=cmk.io/shard=a',
        '--concurrency=8',
        '--resync=5m',
        '--health-address=:8081',
        '--metrics-address=:8080',
        '--leader-elect=true',
        '--leader-election-namespace=cmk-system',
        '--leader-election-name=cmk-cmk-operator',
        '--region=us-west-2',
        '--cluster-name=prod',
        '--log-level=debug',
      ]),
    ).toMatchObject({
      namespaces: ['a', 'b'],
      selector: 'cmk.io/shard=a',
      concurrency: 8,
      resync: 300_000,
      'leader-elect': true,
      'leader-election-namespace': 'cmk-system',
      'leader-election-name': 'cmk-cmk-operator',
      region: 'us-west-2',
      'cluster-name': 'prod',
      'log-level': 'debug',
    });
  });

  it('the benchmark (--leader-elect false) and the integration replicas (--flag value)', () => {
    expect(parse(['--leader-elect', 'false', '--resync', '1500ms', '--concurrency', '16'])).toMatchObject({
      'leader-elect': false,
      resync: 1500,
      concurrency: 16,
    });
    expect(
      parse([
        '--lease-duration',
        '4s',
        '--renew-deadline',
        '3s',
        '--retry-period',
        '500ms',
        '--log-level',
        'info',
      ]),
    ).toMatchObject({ 'lease-duration': 4000, 'renew-deadline': 3000, 'retry-period': 500 });
  });

  it('refuses a mistyped --leader-elect and an unknown --log-level', () => {
    expect(usageError(runCli, ['--leader-elect=fasle'])).toContain('--leader-elect: takes true or false');
    expect(usageError(runCli, ['--log-level', 'verbose'])).toContain('--log-level');
    expect(usageError(runCli, ['--concurrency', '257'])).toContain(
      '--concurrency: must be an integer from 1 to 256',
    );
  });
});
