// One way to declare a command's flags: each flag once (name, type, default, description), and from
// that declaration the typed values, the `--help` text and the usage errors. node:util parseArgs
// does the tokenising; this module adds the types parseArgs lacks (number, duration, list), real
// booleans, environment fallbacks and the messages.
//
//   const cmd = defineCommand({ name: 'cmk-operator run', flags: { resync: { type: 'duration',
//     default: 600_000, description: 'look again after success' } } });
//   const parsed = cmd.parse(args);            // --help: prints, exit 0; a bad flag: says which, exit 2
//   if (!parsed.ok) return parsed.exitCode;
//   parsed.values.resync;                      // number (milliseconds)
//
// Types: string; number (finite; `integer`, `min`, `max`); duration (500ms, 30s, 10m, 1h; the value
// is milliseconds); list (comma-separated, repeatable, trimmed, empty items dropped; default []);
// boolean (default false).
//
// Booleans, the one rule: `--x` and `--x=true` turn x on, `--x=false` and `--no-x` turn it off;
// `--x true` / `--x false` (the next word exactly true or false) are read the same way. Any other
// value given with `=` (`--leader-elect=fals`) is a usage error naming the flag, never "on".
//
// Precedence: the flag, then the first set environment variable of `env`, then `default`. A
// missing `required` flag is a usage error. Usage errors print the message, the usage line and a
// pointer to --help on stderr, and the command exits 2; `-h`/`--help` print the help and exit 0.

import { parseArgs } from 'node:util';

export type FlagType = 'string' | 'boolean' | 'number' | 'duration' | 'bytes' | 'list';

interface FlagCommon {
  description: string;
  /** One letter: `-n` for `--namespace`. */
  short?: string;
  /** The value's name in --help (default by type: VALUE, N, DURATION, A,B). */
  metavar?: string;
  /** What --help says the default is, when `default` does not say it (computed defaults). */
  defaultText?: string;
  /** Read (in order) when the flag is absent, before `default`. */
  env?: readonly string[];
  /** Absent, with no environment variable or default: a usage error. */
  required?: boolean;
}

export type FlagDecl =
  | (FlagCommon & { type: 'string'; default?: string; choices?: readonly string[] })
  | (FlagCommon & { type: 'boolean'; default?: boolean })
  | (FlagCommon & { type: 'number'; default?: number; integer?: boolean; min?: number; max?: number })
  | (FlagCommon & { type: 'duration'; default?: number })
  /** A quantity of bytes as Kubernetes writes one: `256Mi`, `1Gi`, `500M`, `0`. */
  | (FlagCommon & { type: 'bytes'; default?: number })
  | (FlagCommon & { type: 'list'; default?: readonly string[] });

export type FlagDecls = Record<string, FlagDecl>;

type ValueOf<T extends FlagType> = T extends 'boolean'
  ? boolean
  : T extends 'number' | 'duration' | 'bytes'
    ? number
    : T extends 'list'
      ? string[]
      : string;

/** The parsed values: defined when the flag has a default or is required (booleans and lists always). */
export type Values<F extends FlagDecls> = {
  -readonly [K in keyof F]: F[K] extends
    | { default: unknown }
    | { required: true }
    | { type: 'boolean' | 'list' }
    ? ValueOf<F[K]['type']>
    : ValueOf<F[K]['type']> | undefined;
};

export interface CommandSpec<F extends FlagDecls> {
  /** As typed: `cmk-operator run`. */
  name: string;
  /** Positional synopsis after the name, e.g. `<up|down|status>`; absent: positionals are refused. */
  args?: string;
  /** Text between the usage line and the options. */
  description?: string;
  flags: F;
  /** Text after the options. */
  footer?: string;
}

/** Where parse writes; the process's streams by default. */
export interface CommandIo {
  out(text: string): void;
  err(text: string): void;
  env?: Record<string, string | undefined>;
}

export type Parsed<F extends FlagDecls> =
  | { ok: true; values: Values<F>; positionals: string[] }
  | { ok: false; exitCode: 0 | 2 };

export interface Command<F extends FlagDecls> {
  readonly spec: CommandSpec<F>;
  /** The --help text, generated from the declaration. */
  help(): string;
  /** The one-line usage: `usage: NAME [options] ARGS`. */
  usage(): string;
  /** Values and positionals, or the exit code after printing help (0) or a usage error (2). */
  parse(args: readonly string[], io?: CommandIo): Parsed<F>;
}

const processIo: CommandIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

class UsageError extends Error {}

const durationUnits = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `500ms`, `30s`, `10m`, `1.5h` -> milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a duration: use e.g. 500ms, 30s, 10m, 1h`);
  return Number(m[1]) * durationUnits[m[2] as keyof typeof durationUnits];
}

const byteUnits = { '': 1, k: 1e3, M: 1e6, G: 1e9, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 } as const;

/** A Kubernetes quantity of bytes: `256Mi`, `1Gi`, `500M`, `1048576` -> bytes (whole). */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(k|M|G|Ki|Mi|Gi)?$/.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a size: use e.g. 256Mi, 1Gi, 500M or a number of bytes`);
  return Math.round(Number(m[1]) * byteUnits[(m[2] ?? '') as keyof typeof byteUnits]);
}

/** Bytes -> the largest whole binary unit: 251658240 -> 240Mi, 0 -> 0. */
export function formatBytes(bytes: number): string {
  for (const unit of ['Gi', 'Mi', 'Ki'] as const) {
    const n = bytes / byteUnits[unit];
    if (bytes !== 0 && Number.isInteger(n)) return `${n}${unit}`;
  }
  return String(bytes);
}

/** Milliseconds -> the largest whole unit: 600000 -> 10m, 1500 -> 1500ms. */
export function formatDuration(ms: number): string {
  for (const unit of ['h', 'm', 's'] as const) {
    const n = ms / durationUnits[unit];
    if (ms !== 0 && Number.isInteger(n)) return `${n}${unit}`;
  }
  return `${ms}ms`;
}

const defaultMetavar: Record<FlagType, string> = {
  string: 'VALUE',
  boolean: '',
  number: 'N',
  duration: 'DURATION',
  bytes: 'SIZE',
  list: 'A,B',
};

function convert(flag: string, decl: FlagDecl, text: string, source: string): unknown {
  const bad = (why: string) => new UsageError(`${source}: ${why}`);
  switch (decl.type) {
    case 'string':
      if (decl.choices && !decl.choices.includes(text))
        throw bad(`"${text}" is not one of ${decl.choices.join(', ')}`);
      return text;
    case 'boolean':
      if (text === 'true') return true;
      if (text === 'false') return false;
      throw bad(`takes true or false, got "${text}"`);
    case 'number': {
      const n = text.trim() === '' ? Number.NaN : Number(text);
      const range =
        decl.min !== undefined && decl.max !== undefined
          ? ` from ${decl.min} to ${decl.max}`
          : decl.min !== undefined
            ? ` of at least ${decl.min}`
            : decl.max !== undefined
              ? ` of at most ${decl.max}`
              : '';
      if (
        !Number.isFinite(n) ||
        (decl.integer && !Number.isInteger(n)) ||
        (decl.min !== undefined && n < decl.min) ||
        (decl.max !== undefined && n > decl.max)
      )
        throw bad(`must be ${decl.integer ? 'an integer' : 'a number'}${range}, got "${text}"`);
      return n;
    }
    case 'duration':
      try {
        return parseDuration(text);
      } catch (e) {
        throw bad((e as Error).message);
      }
    case 'bytes':
      try {
        return parseBytes(text);
      } catch (e) {
        throw bad((e as Error).message);
      }
    case 'list':
      return text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    default:
      throw new Error(`--${flag}: unknown flag type`);
  }
}

/**
 * Booleans to parseArgs' form: `--x=true` -> `--x`, `--x=false` -> `--no-x`, `--x false` -> `--no-x`;
 * any other `--x=V` is an error here, before parseArgs would call it "does not take an argument".
 */
function normaliseBooleans(args: readonly string[], flags: FlagDecls): string[] {
  const byShort = new Map(
    Object.entries(flags).flatMap(([n, d]) => (d.short ? [[d.short, n] as const] : [])),
  );
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (eq >= 0) inline = arg.slice(eq + 1);
    } else if (/^-[^-]$/.test(arg)) {
      name = byShort.get(arg[1]!);
    }
    if (name?.startsWith('no-') && inline !== undefined && flags[name.slice(3)]?.type === 'boolean')
      throw new UsageError(
        `--${name}: takes no value (--${name.slice(3)}=${inline} is the other way to say it)`,
      );
    const decl = name === undefined ? undefined : flags[name];
    if (!decl || name === undefined) {
      out.push(arg);
      continue;
    }
    if (decl.type !== 'boolean') {
      out.push(arg);
      // The next word is this flag's value, whatever it looks like (parseArgs decides if it may be).
      if (inline === undefined && i + 1 < args.length) out.push(args[++i]!);
      continue;
    }
    const next = inline === undefined ? args[i + 1] : undefined;
    const value = inline ?? (next === 'true' || next === 'false' ? next : undefined);
    if (inline === undefined && value !== undefined) i++;
    if (value === undefined || value === 'true') out.push(`--${name}`);
    else if (value === 'false') out.push(`--no-${name}`);
    else throw new UsageError(`--${name}: takes true or false, got "${value}"`);
  }
  return out;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
  }
  return lines;
}

function defaultOf(decl: FlagDecl): string | undefined {
  const parts = (decl.env ?? []).map((e) => `$${e}`);
  if (decl.defaultText !== undefined) parts.push(decl.defaultText);
  else if (decl.default !== undefined) {
    const d = decl.default;
    if (decl.type === 'duration') parts.push(formatDuration(d as number));
    else if (decl.type === 'bytes') parts.push(formatBytes(d as number));
    else if (decl.type === 'list') {
      if ((d as readonly string[]).length > 0) parts.push((d as readonly string[]).join(','));
    } else if (!(decl.type === 'boolean' && d === false)) parts.push(String(d));
  }
  return parts.length > 0 ? parts.join(', else ') : undefined;
}

function renderHelp(spec: CommandSpec<FlagDecls>): string {
  const rows: Array<[string, string]> = Object.entries(spec.flags).map(([name, decl]) => {
    const metavar = decl.type === 'boolean' ? '' : ` ${decl.metavar ?? defaultMetavar[decl.type]}`;
    const left = `${decl.short ? `-${decl.short}, ` : ''}--${name}${metavar}`;
    const notes: string[] = [];
    if (decl.type === 'string' && decl.choices && !decl.description.includes(decl.choices.join('|')))
      notes.push(`one of ${decl.choices.join('|')}`);
    const dflt = defaultOf(decl);
    if (dflt !== undefined) notes.push(`default ${dflt}`);
    if (decl.required) notes.push('required');
    return [left, notes.length > 0 ? `${decl.description} (${notes.join('; ')})` : decl.description];
  });
  rows.push(['-h, --help', 'show this help']);
  const leftWidth = Math.min(30, Math.max(...rows.map(([l]) => l.length))) + 2;
  const lines: string[] = [usageLine(spec), ''];
  if (spec.description) lines.push(spec.description.trimEnd(), '');
  lines.push('options:');
  for (const [left, text] of rows) {
    const body = wrap(text, Math.max(40, 100 - leftWidth - 2));
    const first = left.length + 2 <= leftWidth ? left.padEnd(leftWidth) : undefined;
    if (first === undefined) lines.push(`  ${left}`);
    lines.push(`  ${first ?? ' '.repeat(leftWidth)}${body[0]}`);
    for (const more of body.slice(1)) lines.push(`  ${' '.repeat(leftWidth)}${more}`);
  }
  if (Object.values(spec.flags).some((d) => d.type === 'boolean'))
    lines.push('', 'Booleans: --x or --x=true turns x on; --x=false or --no-x turns it off.');
  if (spec.footer) lines.push('', spec.footer.trimEnd());
  return `${lines.join('\n')}\n`;
}

function usageLine(spec: CommandSpec<FlagDecls>): string {
  return `usage: ${spec.name}${spec.args ? ` ${spec.args}` : ''} [options]`;
}

/** Declares a command: its flags once, and from them parse, help and usage. */
export function defineCommand<const F extends FlagDecls>(spec: CommandSpec<F>): Command<F> {
  for (const name of Object.keys(spec.flags))
    if (name === 'help' || name.startsWith('no-')) throw new Error(`flag --${name} is reserved`);
  const help = () => renderHelp(spec);
  const usage = () => usageLine(spec);
  const parse = (args: readonly string[], io: CommandIo = processIo): Parsed<F> => {
    const env = io.env ?? process.env;
    try {
      const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
        help: { type: 'boolean', short: 'h' },
      };
      for (const [name, d] of Object.entries(spec.flags))
        options[name] = {
          type: d.type === 'boolean' ? 'boolean' : 'string',
          ...(d.type === 'list' ? { multiple: true } : {}),
          ...(d.short ? { short: d.short } : {}),
        };
      const { values: raw, positionals } = parseArgs({
        args: normaliseBooleans(args, spec.flags),
        allowPositionals: spec.args !== undefined,
        allowNegative: true,
        strict: true,
        options,
      });
      if (raw['help'] === true) {
        io.out(help());
        return { ok: false, exitCode: 0 };
      }
      const values: Record<string, unknown> = {};
      for (const [name, decl] of Object.entries(spec.flags)) {
        const given = raw[name];
        if (given !== undefined) {
          values[name] =
            decl.type === 'boolean'
              ? given
              : decl.type === 'list'
                ? (given as string[]).flatMap((t) => convert(name, decl, t, `--${name}`) as string[])
                : convert(name, decl, given as string, `--${name}`);
          continue;
        }
        const fromEnv = (decl.env ?? []).find((e) => env[e] !== undefined && env[e] !== '');
        if (fromEnv !== undefined) {
          values[name] = convert(name, decl, env[fromEnv]!, `$${fromEnv} (for --${name})`);
        } else if (decl.default !== undefined) {
          values[name] = decl.type === 'list' ? [...decl.default] : decl.default;
        } else if (decl.required) {
          throw new UsageError(
            `--${name} is required${decl.env ? ` (or set ${decl.env.map((e) => `$${e}`).join(' or ')})` : ''}`,
          );
        } else {
          values[name] = decl.type === 'boolean' ? false : decl.type === 'list' ? [] : undefined;
        }
      }
      return { ok: true, values: values as Values<F>, positionals };
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (!(e instanceof UsageError) && !code?.startsWith('ERR_PARSE_ARGS_')) throw e;
      // parseArgs' messages name the flag.
      io.err(`${spec.name}: ${(e as Error).message}\n${usage()}\n(${spec.name} --help lists every option)\n`);
      return { ok: false, exitCode: 2 };
    }
  };
  return { spec, help, usage, parse };
}

/**
 * A reader that stops early (`kubectl cmk usage KEY | head`) closes the pipe under the rest of the
 * output: the command ends quietly with its exit code so far, instead of an unhandled EPIPE and a
 * stack trace. Any other error of the stream is thrown as before. For the entry points' stdout.
 */
export function endQuietlyWhenOutputCloses(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}
