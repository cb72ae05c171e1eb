// The container image without a Docker engine: parse the Dockerfile, check its shape (the operator
// bundled in a build stage, nothing else copied into the runtime stage: no node_modules, non-root,
// the entry point), then rebuild the runtime stage's filesystem in a temp dir by replaying its COPY
// steps from the build stage (its COPY steps replayed from the build context, honouring
// .dockerignore, and its build command run there), and run the CLI from there with Node 24, where no
// node_modules is reachable. A runtime import of a devDependency, of emulator/ or src/dev/ (the
// development commands and the local control plane), or of anything the bundle left out fails here.

import { execFile, execFileSync } from 'node:child_process';
import {
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, normalize, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const node24 = join(root, 'node_modules/.bin/node');

// ---- Dockerfile ---------------------------------------------------------------------------------

interface Instruction {
  cmd: string;
  args: string;
}

interface Stage {
  image: string;
  name?: string;
  instructions: Instruction[];
}

function parseDockerfile(text: string): { args: Record<string, string>; stages: Stage[] } {
  const lines = text.replace(/\\\n/g, ' ').split('\n');
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [, cmd = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { cmd: cmd.toUpperCase(), args: rest.replace(/\s+/g, ' ').trim() };
    if (instruction.cmd === 'FROM') {
      const [image = '', as, name] = instruction.args.split(' ');
      const resolved = image.replace(/\$\{(\w+)\}/g, (_m, k: string) => args[k] ?? '');
      stages.push({
        image: resolved,
        ...(as?.toUpperCase() === 'AS' && name ? { name } : {}),
        instructions: [],
      });
    } else if (stages.length === 0 && instruction.cmd === 'ARG') {
      const [k = '', v = ''] = instruction.args.split('=');
      args[k] = v;
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

interface Copy {
  from?: string;
  sources: string[];
  dest: string;
}

function copies(stage: Stage): Copy[] {
  return stage.instructions
    .filter((i) => i.cmd === 'COPY')
    .map((i) => {
      const words = i.args.split(' ');
      const flags = words.filter((w) => w.startsWith('--'));
      const paths = words.filter((w) => !w.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      const unknown = flags.filter((f) => !f.startsWith('--from=') && !f.startsWith('--chown='));
      if (unknown.length > 0) throw new Error(`COPY flags this test does not model: ${unknown.join(' ')}`);
      return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1)! };
    });
}

const workdir = (stage: Stage) => stage.instructions.filter((i) => i.cmd === 'WORKDIR').at(-1)?.args ?? '/';

// ---- .dockerignore (Docker's rules: last matching pattern wins; a pattern matching a parent
// directory matches everything under it; `!` re-includes) ----------------------------------------

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = normalize(negate ? l.slice(1) : l).replace(/\/$/, '');
      return { negate, re: globToRegExp(pattern) };
    });
  return (path) => {
    const parts = path.split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (candidates.some((c) => rule.re.test(c))) excluded = !rule.negate;
    return excluded;
  };
}

// ---- the simulated image ------------------------------------------------------------------------

function walk(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((p) => join(dir, p))
    .filter((p) => statSync(p).isFile());
}

/** Hard-links the files of `from` into `to` (same filesystem: fast, and isolated from `from`'s parents). */
function linkFile(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  linkSync(from, to);
}

function runNode(
  cwd: string,
  args: string[],
  timeout = 30_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string> = { PATH: process.env['PATH'] ?? '', HOME: cwd };
  return new Promise((done) => {
    execFile(node24, args, { cwd, env, timeout }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

// ---- the runtime import graph, statically --------------------------------------------------------

/**
 * Value imports of a TS module (type-only imports are erased by bundling) or of the JavaScript
 * bundled from it (double quotes there), static and dynamic with a literal specifier
 * (`await import('./run.ts')`: how the entry point loads `run`).
 */
function valueImports(source: string): string[] {
  const out: string[] = [];
  const statement = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^;'"]*?)\s*from\s+(['"])([^'"]+)\4/g;
  for (const m of source.matchAll(statement)) if (!m[2]) out.push(m[5]!);
  for (const m of source.matchAll(/(?:^|\n)\s*import\s+(['"])([^'"]+)\1/g)) out.push(m[2]!);
  for (const m of source.matchAll(/\bimport\(\s*(['"])([^'"]+)\1\s*\)/g)) out.push(m[2]!);
  return out;
}

/** The modules reachable from `entries` (paths under `base`), and the packages they name. */
function runtimeGraph(entries: string[], base = root): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = entries.map((e) => join(base, e));
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    for (const spec of valueImports(readFileSync(file, 'utf8'))) {
      if (spec.startsWith('.')) pending.push(resolve(dirname(file), spec));
      else if (!spec.startsWith('node:')) {
        const parts = spec.split('/');
        packages.add(spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!);
      }
    }
  }
  return { files, packages };
}

// ---- tests --------------------------------------------------------------------------------------

/** Every entry point the image has: the files of bin/. */
const binEntries = readdirSync(join(root, 'bin'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => `bin/${f}`);

/** Packages only development code uses; they must not be production dependencies. */
const devOnlyPackages = ['@peculiar/x509', 'reflect-metadata'];

const dockerfile = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
const ignored = dockerignore(readFileSync(join(root, '.dockerignore'), 'utf8'));
const runtime = dockerfile.stages.at(-1)!;
const buildStage = dockerfile.stages.find((s) => s.name === 'build');
const runs = (stage: Stage | undefined) =>
  stage?.instructions.filter((i) => i.cmd === 'RUN').map((i) => i.args) ?? [];
/** The build stage's command that bundles the operator, and where it writes. */
const buildCommand = /^node scripts\/build\.ts --out (\/\S+)$/;

describe('Dockerfile', () => {
  it('has two stages, the build and the runtime; nothing installs packages for the runtime', () => {
    expect(dockerfile.stages.map((st) => st.name)).toEqual(['build', undefined]);
    expect(runs(runtime)).toEqual([]);
  });

  it('runs on Node 24 as UID 65532 with the documented entry point', () => {
    for (const stage of dockerfile.stages)
      expect(stage.image).toMatch(/^node:24[-.]|^gcr\.io\/distroless\/nodejs24/);
    const last = (cmd: string) => runtime.instructions.filter((i) => i.cmd === cmd).at(-1)?.args;
    expect(last('USER')).toMatch(/^65532(:65532)?$/);
    expect(JSON.parse(last('ENTRYPOINT') ?? 'null')).toEqual([
      'node',
      '--no-separate-gc-phases',
      'bin/cmk-operator.js',
    ]);
    expect(JSON.parse(last('CMD') ?? 'null')).toEqual(['run']);
  });

  it('bundles the operator in a stage of its own: npm ci with the dev dependencies (esbuild), then scripts/build.ts', () => {
    expect(buildStage).toBeDefined();
    const [install, build, ...more] = runs(buildStage);
    expect(install).toMatch(/^npm ci\b/);
    expect(install).not.toMatch(/--omit=dev/);
    expect(build).toMatch(buildCommand);
    expect(more).toEqual([]);
    expect(
      copies(buildStage!)
        .flatMap((c) => c.sources)
        .sort(),
    ).toEqual(
      ['bin', 'package-lock.json', 'package.json', 'scripts/build.ts', 'src', 'tsconfig.json'].sort(),
    );
  });

  it("copies only the build's output (package.json, bin/) into the image: no node_modules", () => {
    const copied = copies(runtime).map((c) => `${c.from ? `${c.from}:` : ''}${c.sources.join(',')}`);
    const out = buildCommand.exec(runs(buildStage)[1] ?? '')?.[1];
    expect(copied).toEqual([`build:${out}/`]);
  });

  it('.dockerignore keeps the context to what the Dockerfile copies', () => {
    for (const kept of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'scripts/build.ts',
      'bin/cmk-operator.ts',
      'src/operator.ts',
      'src/cli/run.ts',
    ])
      expect(ignored(kept), kept).toBe(false);
    for (const dropped of [
      'node_modules/yaml/package.json',
      'emulator/index.ts',
      'test/unit/dockerfile.test.ts',
      '.git/config',
      '.testenv/kubeconfig',
      'charts/cmk-operator/values.yaml',
      'src/runtime/kube.test.ts',
      'src/node_modules/x/index.js',
      'src/dev/main.ts',
      'src/dev/devenv/certs.ts',
      'scripts/bench.ts',
      'dist/operator/bin/cmk-operator.js',
    ])
      expect(ignored(dropped), dropped).toBe(true);
  });

  it('the runtime imports (bin/, run reached through its dynamic import) need only `dependencies`, never emulator/, test/ or src/dev/', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const { files, packages } = runtimeGraph(binEntries);
    const reached = [...files].map((f) => relative(root, f));
    // The walk follows main.ts's `import('./run.ts')` to the whole operator.
    expect(reached).toEqual(
      expect.arrayContaining(['bin/cmk-operator.ts', 'src/cli/run.ts', 'src/operator.ts']),
    );
    expect([...packages].filter((p) => !(p in pkg.dependencies))).toEqual([]);
    expect(reached.filter((f) => !/^(src|bin)\//.test(f))).toEqual([]);
    expect(reached.filter((f) => f.startsWith('src/dev/'))).toEqual([]);
    expect([...packages].filter((p) => devOnlyPackages.includes(p))).toEqual([]);
  });

  it('the development-only packages are devDependencies, and src/dev/ is what uses them', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    for (const p of devOnlyPackages) {
      expect(pkg.dependencies, p).not.toHaveProperty(p);
      expect(pkg.devDependencies, p).toHaveProperty(p);
    }
    // The walk sees them from the development entry point, so it would see them from `run` too.
    expect([...runtimeGraph(['src/dev/main.ts']).packages]).toEqual(expect.arrayContaining(devOnlyPackages));
  });
});

describe('the image layout, rebuilt from the COPY steps', () => {
  let image: string;
  let app: string;

  /** The COPY steps of `stage` whose source is the build context, into `root` (its WORKDIR there). */
  function replayContextCopies(stage: Stage, into: string): void {
    for (const copy of copies(stage).filter((c) => c.from === undefined)) {
      const dest = join(into, copy.dest);
      for (const source of copy.sources) {
        const from = join(root, source);
        const files = statSync(from).isDirectory() ? walk(from) : [from];
        for (const file of files) {
          const rel = relative(root, file);
          if (ignored(rel)) continue;
          const target = statSync(from).isDirectory()
            ? join(dest, relative(from, file))
            : copy.dest.endsWith('/')
              ? join(dest, basename(source))
              : dest;
          linkFile(file, target);
        }
      }
    }
  }

  /** The build stage, replayed: its context files, every installed package (npm ci), its build command. */
  function runBuildStage(): { workdir: string; dir: string } {
    const stage = buildStage!;
    const dir = join(image, 'build-stage');
    replayContextCopies(stage, dir);
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    const out = buildCommand.exec(runs(stage)[1] ?? '')![1]!;
    const dest = join(dir, relative(workdir(stage), out));
    execFileSync(node24, ['scripts/build.ts', '--out', dest], { cwd: dir, stdio: 'pipe' });
    return { workdir: workdir(stage), dir };
  }

  beforeAll(() => {
    image = mkdtempSync(join(tmpdir(), 'cmk-image-'));
    app = join(image, workdir(runtime).replace(/^\//, ''));
    replayContextCopies(runtime, app);
    for (const copy of copies(runtime).filter((c) => c.from !== undefined)) {
      const dest = join(app, copy.dest);
      for (const source of copy.sources) {
        if (copy.from === 'build') {
          const built = runBuildStage();
          const from = join(built.dir, relative(built.workdir, source));
          for (const file of walk(from)) linkFile(file, join(dest, relative(from, file)));
        } else {
          throw new Error(`COPY --from=${copy.from} is not modelled`);
        }
      }
    }
  }, 60_000);

  afterAll(() => {
    if (image) rmSync(image, { recursive: true, force: true });
  });

  it('holds the bundle and package.json only: no node_modules, no sources, no emulator/ or src/dev/', () => {
    const files = walk(app).map((f) => relative(app, f));
    expect(files).toContain('bin/cmk-operator.js');
    expect(files).toContain('package.json');
    expect(files.filter((f) => !(f === 'package.json' || /^bin\/(chunks\/)?[\w.-]+\.js$/.test(f)))).toEqual(
      [],
    );
    expect(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'))).toMatchObject({ type: 'module' });
    // No node_modules above it either: what the bundle needs, it carries.
    for (let dir = app; dir !== dirname(dir); dir = dirname(dir))
      expect(existsSync(join(dir, 'node_modules')), dir).toBe(false);
  });

  it('every file of the bundle loads there: what it imports is in the image or built into Node', async () => {
    // The entry point runs the CLI (the next tests); the chunks only define what it loads.
    const chunks = walk(join(app, 'bin', 'chunks')).map((f) => `./${relative(app, f)}`);
    expect(chunks.length).toBeGreaterThan(0);
    const script = `for (const f of ${JSON.stringify(chunks)}) await import(f);`;
    const loaded = await runNode(app, ['--input-type=module', '-e', script]);
    expect(loaded).toMatchObject({ code: 0, stderr: '' });
  }, 30_000);

  it('carries no devDependency: the bundle names the packages it holds, and none is development-only', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const text = walk(join(app, 'bin'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    // esbuild marks each bundled file with its path: `// [...]node_modules/<package>/...`.
    const bundled = new Set(
      [...text.matchAll(/^\/\/ (?:\S*\/)?node_modules\/((?:@[^/\s]+\/)?[^/\s]+)\//gm)].map((m) => m[1]!),
    );
    expect(bundled).toContain('@aws-sdk/client-kms');
    expect(bundled).toContain('@kubernetes/client-node');
    expect([...bundled].filter((p) => p in pkg.devDependencies && devOnlyPackages.includes(p))).toEqual([]);
    for (const p of [...devOnlyPackages, 'vitest', 'typescript', 'fast-check', 'esbuild'])
      expect(bundled.has(p), p).toBe(false);
  });

  it('node bin/cmk-operator.js --help and run --help work there on Node 24', async () => {
    const version = await runNode(app, ['--version']);
    expect(version.stdout).toMatch(/^v24\./);
    const help = await runNode(app, ['bin/cmk-operator.js', '--help']);
    expect(help.stderr).toBe('');
    expect(help).toMatchObject({ code: 0 });
    expect(help.stdout).toContain('usage: cmk-operator <command>');
    // `run` loads the whole operator (every static import) before it reads its flags.
    const runHelp = await runNode(app, ['bin/cmk-operator.js', 'run', '--help']);
    expect(runHelp).toMatchObject({ code: 0, stderr: '' });
    expect(runHelp.stdout).toContain('--leader-election-namespace');
    // Once: the entry point is the only module of the bundle that runs the CLI.
    expect(runHelp.stdout.split('usage: cmk-operator run').length).toBe(2);
    const noRegion = await runNode(app, ['bin/cmk-operator.js', 'run']);
    expect(noRegion).toMatchObject({ code: 2, stderr: 'no AWS Region: pass --region or set AWS_REGION\n' });
    const typo = await runNode(app, ['bin/cmk-operator.js', 'run', '--leader-elect=fals']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('--leader-elect: takes true or false, got "fals"');
    // Three processes that each load the whole operator: seconds apiece on a busy machine.
  }, 30_000);

  it('the development commands are not in the image: the entry point names where they are', {
    timeout: 20_000,
  }, async () => {
    for (const command of ['emulator', 'testenv', 'playground', 'crds']) {
      const result = await runNode(app, ['bin/cmk-operator.js', command, '--help']);
      expect(result.code, command).toBe(2);
      expect(result.stderr).toContain(`"${command}" is a development command`);
      expect(result.stderr).toContain(`node src/dev/main.ts ${command}`);
    }
  });
});
