// kubectl-cmk rendering with plain objects: the status tree, explain's remedies, the plan report,
// kind names and argument errors (no cluster needed).

import { describe, expect, it } from 'vitest';
import {
  defaultRotationToken,
  kubectlCmkCommand,
  remedyFor,
  renderExplain,
  renderPlan,
  renderStatusTree,
  resolveKind,
  type StatusObject,
  shortKey,
} from '../../src/cli/kubectl-cmk.ts';
import { planWorkload } from '../../src/reconcile/workload-plan.ts';

const arn = (id: string) => `arn:aws:kms:us-east-1:111122223333:key/${id}`;
const cond = (type: string, status: string, reason: string, message = '') => ({
  type,
  status: status as 'True',
  reason,
  message,
  lastTransitionTime: '2026-01-01T00:00:00Z',
});

const key = (name: string, extra: Record<string, unknown> = {}): StatusObject => ({
  kind: 'KmsKey',
  metadata: { name, namespace: 'team' },
  spec: {},
  status: {
    keyArn: arn(`${name}-id`),
    keyState: 'Enabled',
    rotation: { enabled: true, periodInDays: 365 },
    workloads: { summary: '1/2' },
    conditions: [cond('Ready', 'True', 'Succeeded')],
    ...extra,
  },
});

const workload = (
  kind: string,
  name: string,
  ref: Record<string, unknown>,
  status: Record<string, unknown>,
): StatusObject => ({ kind, metadata: { name, namespace: 'team' }, spec: { key: ref }, status });

describe('renderStatusTree', () => {
  const keys = [key('orders'), key('audit')];
  const workloads = [
    workload(
      'FlinkApplication',
      'app',
      { kmsKeyRef: { name: 'orders' } },
      {
        awsState: 'RUNNING',
        current: { keyType: 'CustomerManaged', keyArn: arn('orders-id') },
        conditions: [cond('Ready', 'True', 'OnDesiredKey')],
      },
    ),
    workload(
      'KeyspacesTable',
      'tbl',
      { kmsKeyRef: { name: 'orders' } },
      {
        awsState: 'UPDATING',
        current: { keyType: 'AwsOwned' },
        conditions: [cond('Ready', 'False', 'Transitioning')],
      },
    ),
    workload('EmrServerlessApplication', 'emr', { awsOwned: true }, { current: { keyType: 'AwsOwned' } }),
    workload('FlinkApplication', 'byid', { keyId: 'alias/x' }, {}),
    workload('FlinkApplication', 'elsewhere', { kmsKeyRef: { name: 'shared', namespace: 'platform' } }, {}),
  ];
  const text = renderStatusTree(keys, workloads);
  const lines = text.trimEnd().split('\n');

  it('lists each key, sorted, with state, rotation, Ready and k/n', () => {
    expect(lines[0]).toBe(
      'KmsKey audit  key/audit-id  Enabled  rotation on (365d)  Ready True (Succeeded)  workloads 1/2',
    );
    expect(lines[1]).toMatch(/^KmsKey orders {2}key\/orders-id/);
  });

  it('puts every workload under the key it references, with AWS state, Ready and current key', () => {
    expect(lines[2]).toBe('├─ FlinkApplication/app  RUNNING  Ready True (OnDesiredKey)  key key/orders-id');
    expect(lines[3]).toBe('└─ KeyspacesTable/tbl  UPDATING  Ready False (Transitioning)  key AWS_OWNED');
  });

  it('shows references to keys outside the view, then workloads without a KmsKey at the end', () => {
    expect(lines[4]).toBe('KmsKey platform/shared  (not found in this view)');
    expect(lines[5]).toContain('FlinkApplication/elsewhere');
    expect(lines[6]).toBe('Without a KmsKey (keyId or AWS owned)');
    expect(lines.slice(7)).toEqual([
      '├─ EmrServerlessApplication/emr  -  Ready -  key AWS_OWNED',
      '└─ FlinkApplication/byid  -  Ready -  key -',
    ]);
  });

  it('prefixes namespaces with -A and says when there is nothing', () => {
    expect(renderStatusTree([key('orders')], [], true)).toContain('KmsKey team/orders');
    expect(renderStatusTree([], [])).toBe('No cmk.io objects found.\n');
  });

  it('shortens key ARNs', () => {
    expect(shortKey(arn('abc'))).toBe('key/abc');
    expect(shortKey(undefined)).toBe('-');
    expect(shortKey('AWS_OWNED')).toBe('AWS_OWNED');
  });
});

describe('renderExplain', () => {
  it('names each problem reason with its runbook remedy, including the referenced KmsKey', () => {
    const w = workload(
      'KeyspacesTable',
      'tbl',
      { kmsKeyRef: { name: 'orders' } },
      {
        plan: ['switch t from AWS_OWNED to arn'],
        conditions: [
          cond('Ready', 'False', 'KmsKeyNotReady', 'KmsKey team/orders is not usable yet'),
          cond('KeyUsable', 'False', 'KmsKeyNotReady', 'not usable'),
          cond('Reconciling', 'False', 'Succeeded'),
        ],
      },
    );
    const k = key('orders', {
      conditions: [
        cond('Ready', 'False', 'KeyDisabled'),
        cond('KeyUsable', 'False', 'KeyDisabled', 'disabled'),
      ],
    });
    const text = renderExplain(w, k);
    expect(text).toContain('KeyspacesTable/tbl in team');
    expect(text).toContain('Ready False (KmsKeyNotReady): KmsKey team/orders is not usable yet');
    expect(text).toContain('Referenced KmsKey team/orders: Ready False (KeyDisabled)');
    expect(text).toContain('  KmsKeyNotReady:\n    - The referenced KmsKey is not usable');
    expect(text).toContain('  KeyDisabled:\n');
    expect(text).toContain('spec.protection.reenable: true');
    expect(text).toContain('Plan (status.plan):\n  - switch t from AWS_OWNED to arn');
    expect(text).not.toContain('  Succeeded:');
  });

  it('lists a KmsKey’s pending workloads, and says when all is well', () => {
    const k = key('orders', {
      conditions: [cond('Ready', 'True', 'Succeeded')],
      workloads: {
        summary: '1/2',
        pending: [
          { kind: 'FlinkApplication', namespace: 'team', name: 'app', reason: 'WaitingForMaintenanceWindow' },
        ],
      },
    });
    const text = renderExplain(k);
    expect(text).toContain('Nothing to do: Ready.');
    expect(text).toContain('Pending workloads:\n  - FlinkApplication/team/app: WaitingForMaintenanceWindow');
  });

  it('has a remedy for every runbook reason, and a pointer for unknown ones', () => {
    for (const r of [
      'KeyDisabled',
      'KeyPendingDeletion',
      'KeyNotFound',
      'KeyPolicyMissingPermission',
      'OutgoingKeyNotUsable',
      'KmsKeyNotReady',
      'WaitingForApplicationStop',
      'WaitingForJobs',
      'WaitingForMaintenanceWindow',
      'SwitchFailed',
      'ClaimedByAnother',
      'ResourceNotFound',
      'ReferenceNotGranted',
      'KeyNotAllowed',
      'ResourceNotAllowed',
      'InaccessibleEncryptionCredentials',
      'OnDemandRotationLimitExceeded',
      'Drift',
      'AccessDenied',
      'Transitioning',
    ])
      expect(remedyFor(r)[0], r).not.toMatch(/^No runbook entry/);
    expect(remedyFor('Whatever')[0]).toMatch(/^No runbook entry for Whatever/);
    expect(remedyFor('WaitingForApplicationStop').join(' ')).toContain('StopAndUpdate');
  });
});

describe('renderPlan', () => {
  it('prints the actions, plan lines and outcome of planWorkload', () => {
    const plan = planWorkload({
      now: 0,
      service: 'Keyspaces',
      spec: { mode: 'Observe' },
      status: undefined,
      deleting: false,
      hasFinalizer: true,
      desired: { kind: 'resolved', setting: { type: 'CustomerManaged', keyArn: arn('k') } },
      preflight: { ok: true },
      observed: {
        kind: 'found',
        state: {
          resourceArn: 'arn:aws:cassandra:us-east-1:111122223333:/keyspace/ks/table/t',
          awsState: 'ACTIVE',
          settled: true,
          encryption: { type: 'AwsOwned' },
          tags: {},
        } as never,
      },
      claim: 'c/team/tbl',
    });
    const o = workload('KeyspacesTable', 'tbl', { keyId: arn('k') }, {});
    o.spec = { mode: 'Observe' };
    const text = renderPlan(o, plan);
    expect(text).toContain('KeyspacesTable/tbl in team (Observe: the operator reports, it does not act)');
    expect(text).toContain('  actions: none');
    expect(text).toMatch(/ {2}plan:\n {4}- .*switch/);
  });
});

describe('arguments', () => {
  it('resolves kinds by name, plural and short name', () => {
    expect(resolveKind('kk')?.kind).toBe('KmsKey');
    expect(resolveKind('flinkapp')?.kind).toBe('FlinkApplication');
    expect(resolveKind('kstable')?.kind).toBe('KeyspacesTable');
    expect(resolveKind('emrapp')?.kind).toBe('EmrServerlessApplication');
    expect(resolveKind('emrjob')?.kind).toBe('EmrServerlessJobRun');
    expect(resolveKind('KeyspacesTables')?.kind).toBe('KeyspacesTable');
    expect(resolveKind('kmskeys.cmk.io')?.kind).toBe('KmsKey');
    expect(resolveKind('pods')).toBeUndefined();
  });

  it('makes a timestamp token', () => {
    expect(defaultRotationToken(new Date('2026-11-23T10:15:30.123Z'))).toBe('rotate-20261123T101530Z');
  });

  it('exits 2 on usage errors before touching a cluster', async () => {
    const io = { out: (_: string) => {}, err: (_: string) => {} };
    expect(await kubectlCmkCommand([], io)).toBe(2);
    expect(await kubectlCmkCommand(['frobnicate'], io)).toBe(2);
    expect(await kubectlCmkCommand(['status', '--bogus'], io)).toBe(2);
    expect(await kubectlCmkCommand(['explain', 'kk/x', '-A'], io)).toBe(2);
    let err = '';
    const errIo = { ...io, err: (t: string) => (err += t) };
    expect(await kubectlCmkCommand(['status', '--all-namespaces=yes'], errIo)).toBe(2);
    expect(err).toContain('--all-namespaces: takes true or false, got "yes"');
    err = '';
    expect(await kubectlCmkCommand(['status', '--bogus'], errIo)).toBe(2);
    expect(err).toContain("Unknown option '--bogus'");
    expect(err).toContain('kubectl cmk --help');
    let out = '';
    expect(await kubectlCmkCommand(['--help'], { ...io, out: (t) => (out += t) })).toBe(0);
    expect(out).toContain('usage: kubectl cmk');
    // The help is generated from the flag declarations: every flag, with its default.
    for (const flag of [
      '--kubeconfig PATH',
      '-n, --namespace NS',
      '-A, --all-namespaces',
      '--token T',
      '--region R',
    ])
      expect(out).toContain(flag);
    expect(out).toContain('(default rotate-<UTC timestamp>)');
    expect(out).toContain('KIND: kmskey (kk)');
  });
});
