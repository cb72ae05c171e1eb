// `npm run playground` (node src/dev/main.ts playground): everything on one machine, in the
// foreground. A real control plane (etcd + kube-apiserver) and the AWS emulator seeded with
// examples/playground-seed.yaml; the CRDs; the operator itself (in this process, talking to both
// exactly as it would in a cluster); then examples/kmskey.yaml and examples/workloads.yaml applied,
// and a table of every cmk.io object updating in place until Ctrl-C. Nothing outside loopback is
// touched.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startEmulator } from '../../emulator/index.ts';
import { customResourceDefinition, kinds } from '../api/kinds.ts';
import { apiVersion, group } from '../api/shared.ts';
import { defineCommand } from '../cli/command.ts';
import { keyPolicyPreflight } from '../keys/preflight.ts';
import { startOperator } from '../operator.ts';
import { createKubeClient, type KubeObject, loadKubeConfig, resourceTypes } from '../runtime/kube.ts';
import { createLogger } from '../runtime/log.ts';
import { findBinaries } from './devenv/binaries.ts';
import { startControlPlane } from './devenv/control-plane.ts';
import { shutdownSignal } from './testenv.ts';

export const playgroundCli = defineCommand({
  name: 'node src/dev/main.ts playground',
  description: `Starts a local Kubernetes control plane and AWS emulator, installs the CRDs, runs the operator,
applies examples/kmskey.yaml and examples/workloads.yaml, and shows every object converge.`,
  flags: {
    'exit-when-ready': {
      type: 'boolean',
      description: 'stop everything and exit 0 once every object is Ready (for scripts and CI)',
    },
    timeout: {
      type: 'number',
      metavar: 'SECONDS',
      min: 1,
      default: 180,
      description: 'with --exit-when-ready: give up (exit 1) after this long',
    },
  },
});

interface Row {
  kind: string;
  name: string;
  key: string;
  aws: string;
  ready: string;
  reason: string;
}

interface Conditioned extends KubeObject {
  spec?: {
    key?: { kmsKeyRef?: { name: string }; keyId?: string; awsOwned?: boolean };
    keyId?: string;
    create?: unknown;
  };
  status?: {
    conditions?: Array<{ type: string; status: string; reason: string; message: string }>;
    keyState?: string;
    awsState?: string;
    state?: string;
    workloads?: { summary: string };
  };
}

function keyColumn(o: Conditioned): string {
  if (o.kind === 'KmsKey') return o.spec?.keyId ?? 'created';
  const k = o.spec?.key;
  return k?.kmsKeyRef?.name ?? k?.keyId ?? (k?.awsOwned ? 'AWS owned' : '');
}

function toRow(o: Conditioned): Row {
  const ready = o.status?.conditions?.find((c) => c.type === 'Ready');
  const aws = o.status?.keyState ?? o.status?.awsState ?? o.status?.state ?? '';
  const extra = o.kind === 'KmsKey' && o.status?.workloads ? ` workloads ${o.status.workloads.summary}` : '';
  return {
    kind: o.kind ?? '',
    name: o.metadata.name,
    key: keyColumn(o),
    aws: `${aws}${extra}`,
    ready: ready?.status ?? '-',
    reason: ready
      ? `${ready.reason}${ready.status === 'True' ? '' : `: ${ready.message}`}`
      : 'waiting for the operator',
  };
}

function renderTable(rows: Row[], width: number): string[] {
  const headers: Row = {
    kind: 'KIND',
    name: 'NAME',
    key: 'KEY',
    aws: 'AWS',
    ready: 'READY',
    reason: 'REASON',
  };
  const cols: Array<keyof Row> = ['kind', 'name', 'key', 'aws', 'ready'];
  const widths = cols.map((c) => Math.min(40, Math.max(headers[c].length, ...rows.map((r) => r[c].length))));
  const line = (r: Row) => {
    const fixed = cols.map((c, i) => r[c].slice(0, widths[i]).padEnd(widths[i]!)).join('  ');
    return `${fixed}  ${r.reason}`.slice(0, Math.max(40, width - 1));
  };
  return [line(headers), ...rows.map(line)];
}

export async function playgroundCommand(args: string[]): Promise<number> {
  const parsed = playgroundCli.parse(args);
  if (!parsed.ok) return parsed.exitCode;
  const exitWhenReady = parsed.values['exit-when-ready'];
  const timeoutMs = parsed.values.timeout * 1000;
  const tty = process.stdout.isTTY === true && !exitWhenReady;
  const say = (message: string) => process.stdout.write(`${message}\n`);
  const root = process.cwd();
  const stopping = shutdownSignal();

  const binaries = await findBinaries();
  say('starting etcd and kube-apiserver...');
  const controlPlane = await startControlPlane({ binaries });
  const emulator = await startEmulator({ seedFile: join(root, 'examples', 'playground-seed.yaml') });
  let operator: Awaited<ReturnType<typeof startOperator>> | undefined;
  try {
    say(`kube-apiserver ${controlPlane.version} at ${controlPlane.server}; AWS emulator at ${emulator.url}`);
    const kube = createKubeClient(loadKubeConfig(controlPlane.kubeconfigPath));

    say('installing the CRDs...');
    for (const def of kinds) {
      await kube.apply(
        resourceTypes.customResourceDefinition,
        customResourceDefinition(def) as unknown as KubeObject,
        {
          fieldManager: 'cmk-playground',
          force: true,
        },
      );
    }
    for (const def of kinds) {
      for (let i = 0; ; i++) {
        const crd = await kube.get<
          KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }
        >(resourceTypes.customResourceDefinition, { name: `${def.plural}.${group}` });
        if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
        if (i > 100) throw new Error(`CRD ${def.plural}.${group} not Established`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    say('starting the operator (its log: ' + join(controlPlane.dir, 'operator.log') + ')...');
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: emulator.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIAPLAYGROUNDOPER01',
      AWS_SECRET_ACCESS_KEY: 'playground',
    });
    const pino = (await import('pino')).default;
    operator = await startOperator({
      kubeconfig: controlPlane.kubeconfigPath,
      namespaces: [],
      concurrency: 4,
      resyncMs: 30_000,
      healthAddress: '127.0.0.1:0',
      metricsAddress: '127.0.0.1:0',
      leaderElection: { enabled: true, namespace: 'default', name: 'cmk-operator' },
      defaultRegion: 'us-east-1',
      clusterName: 'playground',
      policyPreflight: keyPolicyPreflight,
      log: createLogger({
        level: 'info',
        destination: pino.destination({ dest: join(controlPlane.dir, 'operator.log'), sync: false }),
      }),
    });

    say('applying examples/kmskey.yaml and examples/workloads.yaml to namespace default...');
    const objects: KubeObject[] = [];
    for (const file of ['kmskey.yaml', 'workloads.yaml']) {
      for (const doc of parseAllDocuments(await readFile(join(root, 'examples', file), 'utf8'))) {
        const o = doc.toJS() as KubeObject | null;
        if (o) objects.push({ ...o, metadata: { ...o.metadata, namespace: 'default' } });
      }
    }
    for (const o of objects) {
      const def = kinds.find((k) => k.kind === o.kind);
      if (!def) continue;
      await kube.apply(
        { group, version: apiVersion.split('/')[1]!, plural: def.plural, namespaced: true, kind: def.kind },
        o,
        {
          fieldManager: 'cmk-playground',
        },
      );
    }

    const list = async (): Promise<Row[]> => {
      const rows: Row[] = [];
      for (const def of kinds.filter((k) => k.status)) {
        const res = await kube.list<Conditioned>(
          { group, version: 'v1alpha1', plural: def.plural, namespaced: true, kind: def.kind },
          { namespace: 'default' },
        );
        for (const item of res.items) rows.push(toRow({ ...item, kind: def.kind }));
      }
      return rows;
    };

    const started = Date.now();
    let previous: string[] = [];
    let announced = false;
    const deadline = exitWhenReady ? started + timeoutMs : Number.POSITIVE_INFINITY;
    const stop = stopping.then(() => 'signal' as const);
    for (;;) {
      const rows = await list();
      const lines = renderTable(rows, process.stdout.columns ?? 160);
      if (tty) {
        if (previous.length > 0) process.stdout.write(`\x1b[${previous.length}A`);
        for (const l of lines) process.stdout.write(`\x1b[2K${l}\n`);
      } else if (lines.join('\n') !== previous.join('\n')) {
        say(`--- ${((Date.now() - started) / 1000).toFixed(1)}s`);
        for (const l of lines) say(l);
      }
      previous = lines;
      const allReady = rows.length > 0 && rows.every((r) => r.ready === 'True');
      if (allReady && exitWhenReady) {
        say(`every object is Ready after ${((Date.now() - started) / 1000).toFixed(1)} s`);
        return 0;
      }
      if (allReady && !announced) {
        announced = true;
        const lines2 = [
          '',
          'Every workload is on its declared key. Try it yourself, in another shell:',
          `  export KUBECONFIG=${controlPlane.kubeconfigPath}`,
          `  alias kubectl=${binaries.kubectl}`,
          '  kubectl get cmk',
          '  kubectl explain kmskey.spec.rotation',
          '  kubectl patch kmskey orders-key --type merge -p \'{"spec":{"rotation":{"onDemandToken":"try-1"}}}\'   # rotate now',
          '  kubectl get kmskey orders-key -w   # rotation progress across the workloads',
          `  AWS_ENDPOINT_URL=${emulator.url} ... any AWS SDK or CLI call (region us-east-1)`,
          'Ctrl-C stops everything.',
          '',
        ];
        for (const l of lines2) say(l);
        previous = [];
      }
      if (Date.now() > deadline) {
        say(`not every object was Ready after ${timeoutMs / 1000} s`);
        return 1;
      }
      const next = await Promise.race([stop, new Promise<'tick'>((r) => setTimeout(() => r('tick'), 1000))]);
      if (next === 'signal') break;
    }
    say('stopping...');
    return 0;
  } finally {
    await operator?.stop();
    await emulator.close();
    await controlPlane.stop();
  }
}
