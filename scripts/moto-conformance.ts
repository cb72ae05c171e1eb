// Conformance of the KMS emulator against a third party: moto's server (getmoto/moto). One scripted
// KMS scenario runs with the real @aws-sdk/client-kms against both, and each step's outcome is
// compared: the error code when a step fails, the response SHAPE (member names and value types,
// recursively; never values) when it succeeds. A difference passes only if the allow-list below names
// it with the reason; anything else makes the run fail. moto is not AWS: where the two disagree the
// documented AWS behaviour (docs/aws-behaviour.md) decides, and the allow-list says which side follows it.
//
//   node scripts/moto-conformance.ts          prints the table; exit 1 on an unlisted difference,
//                                             exit 2 when moto is not installed
//
// moto runs as a subprocess (`python -m moto.server`) on a free 127.0.0.1 port. Python comes from
// $CMK_MOTO_PYTHON, else ~/.cache/cmk-operator/venv/bin/python (see motoInstallCommand).

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateGrantCommand,
  CreateKeyCommand,
  DecryptCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  DisableKeyRotationCommand,
  EnableKeyCommand,
  EnableKeyRotationCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GetKeyPolicyCommand,
  GetKeyRotationStatusCommand,
  KMSClient,
  ListAliasesCommand,
  ListGrantsCommand,
  ListResourceTagsCommand,
  RevokeGrantCommand,
  ScheduleKeyDeletionCommand,
  TagResourceCommand,
  UntagResourceCommand,
} from '@aws-sdk/client-kms';
import { startEmulator } from '../emulator/index.ts';

export const motoVersion = '5.2.5';
export const defaultMotoPython = join(homedir(), '.cache', 'cmk-operator', 'venv', 'bin', 'python');
export const motoInstallCommand =
  `python3 -m venv ~/.cache/cmk-operator/venv && ` +
  `~/.cache/cmk-operator/venv/bin/pip install 'moto[server]==${motoVersion}'` +
  ' (or: bash scripts/moto-venv.sh, which honours CMK_MOTO_VENV)';

// ---------------------------------------------------------------------------------------------
// The scenario. Each step sees the state earlier steps left (key ids, ciphertext, grant id) for the
// target it runs against, so the same script drives both servers.

interface Ctx {
  kms: KMSClient;
  /** A unique suffix so alias names never collide with another run against the same server. */
  run: string;
  keyId?: string;
  keyArn?: string;
  /** A second key for the deletion-window steps, so a lenient server cannot derail the first key. */
  spareKeyId?: string;
  ciphertext?: Uint8Array;
  grantId?: string;
}

interface Step {
  name: string;
  call(ctx: Ctx): Promise<unknown>;
}

const context = { tenant: 'acme', purpose: 'conformance' };
const key = (ctx: Ctx) => ctx.keyId!;

export const scenario: Step[] = [
  {
    name: 'CreateKey',
    async call(ctx) {
      const out = await ctx.kms.send(
        new CreateKeyCommand({
          Description: 'conformance',
          Tags: [{ TagKey: 'team', TagValue: 'platform' }],
        }),
      );
      ctx.keyId = out.KeyMetadata?.KeyId;
      ctx.keyArn = out.KeyMetadata?.Arn;
      return out;
    },
  },
  { name: 'DescribeKey by key id', call: (ctx) => ctx.kms.send(new DescribeKeyCommand({ KeyId: key(ctx) })) },
  {
    name: 'DescribeKey by key ARN',
    call: (ctx) => ctx.kms.send(new DescribeKeyCommand({ KeyId: ctx.keyArn! })),
  },
  {
    name: 'CreateAlias',
    call: (ctx) =>
      ctx.kms.send(
        new CreateAliasCommand({ AliasName: `alias/conformance-${ctx.run}`, TargetKeyId: key(ctx) }),
      ),
  },
  {
    name: 'CreateAlias duplicate name',
    call: (ctx) =>
      ctx.kms.send(
        new CreateAliasCommand({ AliasName: `alias/conformance-${ctx.run}`, TargetKeyId: key(ctx) }),
      ),
  },
  {
    name: 'DescribeKey by alias name',
    call: (ctx) => ctx.kms.send(new DescribeKeyCommand({ KeyId: `alias/conformance-${ctx.run}` })),
  },
  {
    name: 'DescribeKey by alias ARN',
    call: (ctx) =>
      ctx.kms.send(
        new DescribeKeyCommand({ KeyId: ctx.keyArn!.replace(/key\/.*$/, `alias/conformance-${ctx.run}`) }),
      ),
  },
  {
    name: 'DescribeKey unknown key',
    call: (ctx) => ctx.kms.send(new DescribeKeyCommand({ KeyId: '00000000-0000-4000-8000-000000000000' })),
  },
  {
    name: 'ListAliases for the key',
    call: (ctx) => ctx.kms.send(new ListAliasesCommand({ KeyId: key(ctx) })),
  },
  {
    name: 'GetKeyPolicy default',
    call: (ctx) => ctx.kms.send(new GetKeyPolicyCommand({ KeyId: key(ctx), PolicyName: 'default' })),
  },
  {
    name: 'TagResource',
    call: (ctx) =>
      ctx.kms.send(new TagResourceCommand({ KeyId: key(ctx), Tags: [{ TagKey: 'env', TagValue: 'test' }] })),
  },
  { name: 'ListResourceTags', call: (ctx) => ctx.kms.send(new ListResourceTagsCommand({ KeyId: key(ctx) })) },
  {
    name: 'UntagResource',
    call: (ctx) => ctx.kms.send(new UntagResourceCommand({ KeyId: key(ctx), TagKeys: ['env'] })),
  },
  {
    name: 'Encrypt with encryption context',
    async call(ctx) {
      const out = await ctx.kms.send(
        new EncryptCommand({
          KeyId: key(ctx),
          Plaintext: new TextEncoder().encode('conformance'),
          EncryptionContext: context,
        }),
      );
      ctx.ciphertext = out.CiphertextBlob;
      return out;
    },
  },
  {
    name: 'Decrypt with the same context',
    call: (ctx) =>
      ctx.kms.send(new DecryptCommand({ CiphertextBlob: ctx.ciphertext!, EncryptionContext: context })),
  },
  {
    name: 'Decrypt with a different context',
    call: (ctx) =>
      ctx.kms.send(
        new DecryptCommand({
          CiphertextBlob: ctx.ciphertext!,
          EncryptionContext: { tenant: 'someone-else' },
        }),
      ),
  },
  {
    name: 'GenerateDataKey AES_256',
    call: (ctx) =>
      ctx.kms.send(
        new GenerateDataKeyCommand({ KeyId: key(ctx), KeySpec: 'AES_256', EncryptionContext: context }),
      ),
  },
  {
    name: 'Encrypt DryRun',
    call: (ctx) =>
      ctx.kms.send(
        new EncryptCommand({ KeyId: key(ctx), Plaintext: new TextEncoder().encode('x'), DryRun: true }),
      ),
  },
  { name: 'DisableKey', call: (ctx) => ctx.kms.send(new DisableKeyCommand({ KeyId: key(ctx) })) },
  { name: 'DescribeKey disabled', call: (ctx) => ctx.kms.send(new DescribeKeyCommand({ KeyId: key(ctx) })) },
  {
    name: 'Encrypt on a disabled key',
    call: (ctx) =>
      ctx.kms.send(new EncryptCommand({ KeyId: key(ctx), Plaintext: new TextEncoder().encode('x') })),
  },
  {
    name: 'Decrypt on a disabled key',
    call: (ctx) =>
      ctx.kms.send(new DecryptCommand({ CiphertextBlob: ctx.ciphertext!, EncryptionContext: context })),
  },
  {
    name: 'EnableKeyRotation on a disabled key',
    call: (ctx) => ctx.kms.send(new EnableKeyRotationCommand({ KeyId: key(ctx) })),
  },
  { name: 'EnableKey', call: (ctx) => ctx.kms.send(new EnableKeyCommand({ KeyId: key(ctx) })) },
  {
    name: 'EnableKeyRotation period 89 (below 90)',
    call: (ctx) => ctx.kms.send(new EnableKeyRotationCommand({ KeyId: key(ctx), RotationPeriodInDays: 89 })),
  },
  {
    name: 'EnableKeyRotation period 2561 (above 2560)',
    call: (ctx) =>
      ctx.kms.send(new EnableKeyRotationCommand({ KeyId: key(ctx), RotationPeriodInDays: 2561 })),
  },
  {
    name: 'EnableKeyRotation period 90',
    call: (ctx) => ctx.kms.send(new EnableKeyRotationCommand({ KeyId: key(ctx), RotationPeriodInDays: 90 })),
  },
  {
    name: 'GetKeyRotationStatus enabled',
    call: (ctx) => ctx.kms.send(new GetKeyRotationStatusCommand({ KeyId: key(ctx) })),
  },
  {
    name: 'DisableKeyRotation',
    call: (ctx) => ctx.kms.send(new DisableKeyRotationCommand({ KeyId: key(ctx) })),
  },
  {
    name: 'GetKeyRotationStatus disabled',
    call: (ctx) => ctx.kms.send(new GetKeyRotationStatusCommand({ KeyId: key(ctx) })),
  },
  {
    name: 'CreateGrant',
    async call(ctx) {
      const out = await ctx.kms.send(
        new CreateGrantCommand({
          KeyId: key(ctx),
          GranteePrincipal: 'arn:aws:iam::111122223333:role/conformance-grantee',
          Operations: ['Decrypt', 'Encrypt'],
          Constraints: { EncryptionContextSubset: { tenant: 'acme' } },
          Name: 'conformance',
        }),
      );
      ctx.grantId = out.GrantId;
      return out;
    },
  },
  { name: 'ListGrants', call: (ctx) => ctx.kms.send(new ListGrantsCommand({ KeyId: key(ctx) })) },
  {
    name: 'CreateGrant DryRun',
    call: (ctx) =>
      ctx.kms.send(
        new CreateGrantCommand({
          KeyId: key(ctx),
          GranteePrincipal: 'arn:aws:iam::111122223333:role/conformance-grantee',
          Operations: ['Decrypt'],
          DryRun: true,
        }),
      ),
  },
  {
    name: 'RevokeGrant',
    call: (ctx) => ctx.kms.send(new RevokeGrantCommand({ KeyId: key(ctx), GrantId: ctx.grantId! })),
  },
  {
    name: 'RevokeGrant unknown grant',
    call: (ctx) => ctx.kms.send(new RevokeGrantCommand({ KeyId: key(ctx), GrantId: 'f'.repeat(64) })),
  },
  {
    name: 'CreateKey (spare, for deletion windows)',
    async call(ctx) {
      const out = await ctx.kms.send(new CreateKeyCommand({ Description: 'conformance spare' }));
      ctx.spareKeyId = out.KeyMetadata?.KeyId;
      return out;
    },
  },
  {
    name: 'ScheduleKeyDeletion window 6 (below 7)',
    call: (ctx) =>
      ctx.kms.send(new ScheduleKeyDeletionCommand({ KeyId: ctx.spareKeyId!, PendingWindowInDays: 6 })),
  },
  {
    name: 'ScheduleKeyDeletion window 31 (above 30)',
    call: (ctx) =>
      ctx.kms.send(new ScheduleKeyDeletionCommand({ KeyId: ctx.spareKeyId!, PendingWindowInDays: 31 })),
  },
  {
    name: 'ScheduleKeyDeletion window 7',
    call: (ctx) => ctx.kms.send(new ScheduleKeyDeletionCommand({ KeyId: key(ctx), PendingWindowInDays: 7 })),
  },
  {
    name: 'DescribeKey pending deletion',
    call: (ctx) => ctx.kms.send(new DescribeKeyCommand({ KeyId: key(ctx) })),
  },
  {
    name: 'Encrypt on a key pending deletion',
    call: (ctx) =>
      ctx.kms.send(new EncryptCommand({ KeyId: key(ctx), Plaintext: new TextEncoder().encode('x') })),
  },
  {
    name: 'CancelKeyDeletion',
    call: (ctx) => ctx.kms.send(new CancelKeyDeletionCommand({ KeyId: key(ctx) })),
  },
  {
    name: 'DescribeKey after cancel (Disabled)',
    call: (ctx) => ctx.kms.send(new DescribeKeyCommand({ KeyId: key(ctx) })),
  },
  {
    name: 'CancelKeyDeletion not pending',
    call: (ctx) => ctx.kms.send(new CancelKeyDeletionCommand({ KeyId: key(ctx) })),
  },
  {
    name: 'ScheduleKeyDeletion window 30 (default)',
    call: (ctx) => ctx.kms.send(new ScheduleKeyDeletionCommand({ KeyId: key(ctx) })),
  },
];

// ---------------------------------------------------------------------------------------------
// Shapes and comparison.

/** A value's shape: its type, and for structures and lists the shapes of their members. */
export type Shape = string | { list: Shape | null } | { [member: string]: Shape };

export function shapeOf(value: unknown): Shape | undefined {
  if (value === undefined || value === null) return undefined;
  if (value instanceof Date) return 'timestamp';
  if (value instanceof Uint8Array) return 'blob';
  if (Array.isArray(value)) {
    let element: Shape | null = null;
    for (const v of value) {
      const s = shapeOf(v);
      if (s !== undefined) element = element === null ? s : mergeShapes(element, s);
    }
    return { list: element };
  }
  if (typeof value === 'object') {
    const out: Record<string, Shape> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === '$metadata') continue;
      const s = shapeOf(v);
      if (s !== undefined) out[k] = s;
    }
    return out;
  }
  return typeof value;
}

function mergeShapes(a: Shape, b: Shape): Shape {
  if (typeof a === 'string' || typeof b === 'string') return a;
  if ('list' in a && 'list' in b) {
    const la = a['list'] as Shape | null;
    const lb = b['list'] as Shape | null;
    return { list: la === null ? lb : lb === null ? la : mergeShapes(la, lb) };
  }
  const out: Record<string, Shape> = { ...(a as Record<string, Shape>) };
  for (const [k, v] of Object.entries(b as Record<string, Shape>))
    out[k] = out[k] ? mergeShapes(out[k], v) : v;
  return out;
}

const kindOf = (s: Shape) => (typeof s === 'string' ? s : 'list' in s ? 'list' : 'structure');

export type DifferenceKind = 'outcome' | 'only-in-moto' | 'only-in-emulator' | 'type';

export interface Difference {
  step: string;
  kind: DifferenceKind;
  /** Member path for shape differences (`KeyMetadata.KeyState`, `Grants[].Constraints`). */
  path?: string;
  detail: string;
}

export function compareShapes(step: string, moto: Shape, emulator: Shape, path = ''): Difference[] {
  const at = (p: string) => (path ? `${path}.${p}` : p);
  const km = kindOf(moto);
  const ke = kindOf(emulator);
  if (km !== ke)
    return [{ step, kind: 'type', path: path || '(response)', detail: `moto ${km}, emulator ${ke}` }];
  if (km === 'list') {
    const em = (moto as { list: Shape | null }).list;
    const ee = (emulator as { list: Shape | null }).list;
    // An empty list on either side says nothing about element shapes.
    return em === null || ee === null ? [] : compareShapes(step, em, ee, `${path}[]`);
  }
  if (km !== 'structure') return [];
  const m = moto as Record<string, Shape>;
  const e = emulator as Record<string, Shape>;
  const out: Difference[] = [];
  for (const name of new Set([...Object.keys(m), ...Object.keys(e)])) {
    if (!(name in e)) out.push({ step, kind: 'only-in-moto', path: at(name), detail: `${kindOf(m[name]!)}` });
    else if (!(name in m))
      out.push({ step, kind: 'only-in-emulator', path: at(name), detail: `${kindOf(e[name]!)}` });
    else out.push(...compareShapes(step, m[name]!, e[name]!, at(name)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Known, documented differences. `step` and `path` match exactly or by RegExp; omitted = any.

export interface KnownDifference {
  step?: string | RegExp;
  kind: DifferenceKind;
  path?: string | RegExp;
  /** For outcome differences: the two outcomes, `moto -> emulator` (`ok` for success). */
  outcome?: string;
  reason: string;
}

export const knownDifferences: KnownDifference[] = [
  // --- moto is lenient where AWS rejects (docs/aws-behaviour.md); the emulator follows AWS.
  {
    step: /^(Encrypt|CreateGrant) DryRun$/,
    kind: 'outcome',
    outcome: 'ok -> DryRunOperationException',
    reason: 'moto ignores DryRun and performs the call; AWS answers DryRunOperationException (412) (KMS-014)',
  },
  {
    step: /^ScheduleKeyDeletion window (6|31) /,
    kind: 'outcome',
    outcome: 'ok -> ValidationException',
    reason: 'moto accepts a PendingWindowInDays outside 7-30; AWS rejects it (KMS-011)',
  },
  {
    step: /^EnableKeyRotation period (89|2561) /,
    kind: 'outcome',
    outcome: 'ok -> ValidationException',
    reason: 'moto ignores RotationPeriodInDays; AWS bounds it to 90-2560 (KMS-007)',
  },
  {
    step: 'EnableKeyRotation on a disabled key',
    kind: 'outcome',
    outcome: 'ok -> DisabledException',
    reason: 'moto enables rotation on a disabled key; AWS answers DisabledException (KMS-004)',
  },
  {
    step: /^(Encrypt|Decrypt) on a disabled key$/,
    kind: 'outcome',
    outcome: 'ok -> DisabledException',
    reason:
      'moto does not check the key state in cryptographic calls; AWS answers DisabledException (KMS-004)',
  },
  {
    step: 'Encrypt on a key pending deletion',
    kind: 'outcome',
    outcome: 'ok -> KMSInvalidStateException',
    reason:
      'moto encrypts under a key pending deletion; AWS refuses (KMSInvalidStateException, the code picked in KMS-005)',
  },
  {
    step: 'CancelKeyDeletion not pending',
    kind: 'outcome',
    outcome: 'ok -> KMSInvalidStateException',
    reason:
      'moto cancels a deletion that was never scheduled; AWS answers KMSInvalidStateException (KMS-004)',
  },
  // --- moto's responses lack members of the current API model, or carry nulls.
  {
    kind: 'only-in-emulator',
    path: /^KeyMetadata\.(KeyUsage|MultiRegion)$/,
    reason:
      'moto sends KeyUsage and MultiRegion as JSON null when CreateKey did not name them; the SDK drops nulls',
  },
  {
    kind: 'only-in-emulator',
    path: 'KeyMetadata.CurrentKeyMaterialId',
    reason: 'moto does not return KeyMetadata.CurrentKeyMaterialId (a 2025 API member)',
  },
  {
    kind: 'only-in-moto',
    path: 'KeyMetadata.SigningAlgorithms',
    reason:
      'moto returns an empty SigningAlgorithms list for encryption keys; AWS returns it only for SIGN_VERIFY keys',
  },
  {
    step: /^GetKeyRotationStatus /,
    kind: 'only-in-emulator',
    path: /^(KeyId|RotationPeriodInDays|NextRotationDate)$/,
    reason:
      'moto returns only KeyRotationEnabled; the API also returns KeyId, RotationPeriodInDays, NextRotationDate',
  },
  {
    step: /^ScheduleKeyDeletion window (7|30)\b/,
    kind: 'only-in-emulator',
    path: /^(KeyState|PendingWindowInDays)$/,
    reason: 'moto returns only KeyId and DeletionDate; the API also returns KeyState and PendingWindowInDays',
  },
  {
    step: /^(Encrypt|Decrypt|GenerateDataKey) /,
    kind: 'only-in-emulator',
    path: /^(KeyMaterialId|EncryptionAlgorithm)$/,
    reason:
      'moto omits EncryptionAlgorithm and KeyMaterialId (a 2025 API member) from cryptographic responses',
  },
  {
    step: 'GetKeyPolicy default',
    kind: 'only-in-emulator',
    path: 'PolicyName',
    reason: 'moto omits PolicyName from GetKeyPolicy responses',
  },
  {
    step: 'ListGrants',
    kind: 'only-in-emulator',
    path: /^Grants\[\]\.(CreationDate|IssuingAccount)$/,
    reason: 'moto omits CreationDate and IssuingAccount from GrantListEntry',
  },
  {
    step: 'ListAliases for the key',
    kind: 'only-in-emulator',
    path: /^Aliases\[\]\.(CreationDate|LastUpdatedDate)$/,
    reason: 'moto omits the alias timestamps',
  },
];

function matches(pattern: string | RegExp | undefined, value: string | undefined): boolean {
  if (pattern === undefined) return true;
  if (value === undefined) return false;
  return typeof pattern === 'string' ? pattern === value : pattern.test(value);
}

export function knownFor(d: Difference): KnownDifference | undefined {
  return knownDifferences.find(
    (k) =>
      k.kind === d.kind &&
      matches(k.step, d.step) &&
      (d.kind === 'outcome' ? k.outcome === d.detail : matches(k.path, d.path)),
  );
}

// ---------------------------------------------------------------------------------------------
// Running.

interface Outcome {
  ok: boolean;
  /** The error name when not ok. */
  error?: string;
  message?: string;
  shape?: Shape;
}

async function runScenario(endpoint: string): Promise<Outcome[]> {
  const kms = new KMSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIAEMULATORADMIN0001', secretAccessKey: 'emulator-secret' },
    maxAttempts: 1,
  });
  const ctx: Ctx = { kms, run: `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}` };
  const out: Outcome[] = [];
  for (const step of scenario) {
    try {
      const value = await step.call(ctx);
      out.push({ ok: true, shape: shapeOf(value) ?? {} });
    } catch (e) {
      const err = e as Error;
      out.push({ ok: false, error: err.name, message: err.message });
    }
  }
  kms.destroy();
  return out;
}

export function findMotoPython(): string {
  const venv = process.env['CMK_MOTO_VENV'];
  return process.env['CMK_MOTO_PYTHON'] ?? (venv ? join(venv, 'bin', 'python') : defaultMotoPython);
}

/** The installed moto version, or undefined when that python cannot import moto.server. */
export function installedMoto(python = findMotoPython()): string | undefined {
  const r = spawnSync(python, ['-c', 'import moto, moto.server; print(moto.__version__)'], {
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

async function startMoto(
  python: string,
): Promise<{ url: string; child: ChildProcess; stop(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto exited (${child.exitCode}): ${stderr}`);
    try {
      const res = await fetch(`${url}/moto-api/`);
      await res.arrayBuffer();
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`moto did not start within 30 s: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    url,
    child,
    stop: () =>
      new Promise<void>((ok) => {
        if (child.exitCode !== null) return ok();
        child.once('exit', () => ok());
        child.kill('SIGTERM');
      }),
  };
}

export interface StepResult {
  step: string;
  moto: string;
  emulator: string;
  differences: Array<Difference & { known?: string }>;
  status: 'same' | 'known' | 'DIFF';
}

export interface ConformanceReport {
  motoVersion: string;
  steps: StepResult[];
  unexpected: number;
  /** Allow-list entries no difference used (the emulator or moto changed; prune them). */
  unusedKnown: string[];
}

const describeOutcome = (o: Outcome) => (o.ok ? 'ok' : (o.error ?? 'error'));

export function compareRuns(moto: Outcome[], emulator: Outcome[]): StepResult[] {
  return scenario.map((step, i) => {
    const m = moto[i]!;
    const e = emulator[i]!;
    let differences: Difference[] = [];
    if (m.ok !== e.ok || m.error !== e.error) {
      differences = [
        { step: step.name, kind: 'outcome', detail: `${describeOutcome(m)} -> ${describeOutcome(e)}` },
      ];
    } else if (m.ok && e.ok) {
      differences = compareShapes(step.name, m.shape!, e.shape!);
    }
    const annotated = differences.map((d) => {
      const k = knownFor(d);
      return k ? { ...d, known: k.reason } : d;
    });
    const status = annotated.length === 0 ? 'same' : annotated.every((d) => 'known' in d) ? 'known' : 'DIFF';
    return {
      step: step.name,
      moto: describeOutcome(m),
      emulator: describeOutcome(e),
      differences: annotated,
      status,
    };
  });
}

export async function runConformance(): Promise<ConformanceReport> {
  const python = findMotoPython();
  const version = installedMoto(python);
  if (version === undefined)
    throw new Error(`moto is not installed for ${python}; install it with:\n  ${motoInstallCommand}`);
  const moto = await startMoto(python);
  const emulator = await startEmulator({ port: 0 });
  try {
    const [m, e] = await Promise.all([runScenario(moto.url), runScenario(emulator.url)]);
    const steps = compareRuns(m, e);
    const used = new Set(
      steps.flatMap((s) => s.differences.map((d) => knownFor(d)).filter((k) => k !== undefined)),
    );
    return {
      motoVersion: version,
      steps,
      unexpected: steps.reduce((n, s) => n + s.differences.filter((d) => !('known' in d)).length, 0),
      unusedKnown: knownDifferences.filter((k) => !used.has(k)).map((k) => k.reason),
    };
  } finally {
    await Promise.all([moto.stop(), emulator.close()]);
  }
}

export function formatReport(report: ConformanceReport): string {
  const w = Math.max(...report.steps.map((s) => s.step.length), 4);
  const cw = Math.max(...report.steps.flatMap((s) => [s.moto.length, s.emulator.length]), 8);
  const lines = [
    `KMS conformance: emulator vs moto ${report.motoVersion}`,
    '',
    `${'step'.padEnd(w)}  ${'moto'.padEnd(cw)}  ${'emulator'.padEnd(cw)}  result`,
    `${'-'.repeat(w)}  ${'-'.repeat(cw)}  ${'-'.repeat(cw)}  ------`,
  ];
  for (const s of report.steps) {
    lines.push(`${s.step.padEnd(w)}  ${s.moto.padEnd(cw)}  ${s.emulator.padEnd(cw)}  ${s.status}`);
    for (const d of s.differences) {
      const what = d.kind === 'outcome' ? d.detail : `${d.kind} ${d.path} (${d.detail})`;
      lines.push(
        `${''.padEnd(w)}    ${'known' in d ? 'known' : 'UNEXPECTED'}: ${what}${d.known ? ` — ${d.known}` : ''}`,
      );
    }
  }
  const counts = { same: 0, known: 0, DIFF: 0 };
  for (const s of report.steps) counts[s.status]++;
  lines.push(
    '',
    `${report.steps.length} steps: ${counts.same} same, ${counts.known} with known differences, ${counts.DIFF} with unexpected differences (${report.unexpected} in all)`,
  );
  for (const u of report.unusedKnown) lines.push(`unused allow-list entry: ${u}`);
  return `${lines.join('\n')}\n`;
}

if (import.meta.main) {
  try {
    const report = await runConformance();
    process.stdout.write(formatReport(report));
    process.exitCode = report.unexpected === 0 ? 0 : 1;
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exitCode = /moto is not installed/.test((e as Error).message) ? 2 : 1;
  }
}
