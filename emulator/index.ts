// Starting the emulator, in-process (tests) or from the CLI. The returned handle exposes the live
// world for tests that run in the same process; tests in another process use the admin API
// (emulator/client.ts).

import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';
import { type Clock, createClock } from './core/clock.ts';
import { parseRoleSeed } from './core/identity.ts';
import type { ServiceFactory, ServiceRuntime } from './core/service.ts';
import { createWorld, defaultConfig, type EmulatorConfig, type World } from './core/world.ts';
import { createEmulatorServer, type EmulatorHost } from './server.ts';
import { createEmrServerlessService } from './services/emr-serverless/index.ts';
import { createKeyspacesService } from './services/keyspaces/index.ts';
import { createKmsService } from './services/kms/index.ts';
import { createMsfService } from './services/msf/index.ts';
import { createSqsService } from './services/sqs/index.ts';
import { createStsService } from './services/sts.ts';

/** KMS first: the others look keys up through world.kms. */
const factories: ServiceFactory[] = [
  createKmsService,
  createMsfService,
  createKeyspacesService,
  createEmrServerlessService,
  createStsService,
  createSqsService,
];

export interface EmulatorOptions {
  port?: number;
  /** Loopback only unless `allowRemote`: the emulator has no authentication. */
  host?: string;
  allowRemote?: boolean;
  seedFile?: string;
  /** An already parsed seed document. */
  seed?: unknown;
  config?: Partial<EmulatorConfig>;
  clock?: Clock;
}

export interface RunningEmulator {
  url: string;
  port: number;
  host: string;
  world(): World;
  reset(config?: Partial<EmulatorConfig>): void;
  seed(doc: unknown): void;
  close(): Promise<void>;
}

export interface EmulatorState extends EmulatorHost {
  world(): World;
  /** Ends whatever the services wait on in real time (long polls); the state stays readable. */
  dispose(): void;
}

/** Builds the world and its services without a server (unit tests of service rules use this). */
export function createEmulatorState(options: Pick<EmulatorOptions, 'config' | 'clock'> = {}): EmulatorState {
  const clock = options.clock ?? createClock();
  const baseConfig: EmulatorConfig = { ...structuredClone(defaultConfig), ...options.config };
  let world = createWorld(structuredClone(baseConfig), clock);
  let services: ServiceRuntime[] = factories.map((f) => f(world));
  const state: EmulatorState = {
    world: () => world,
    services: () => services,
    reset(config) {
      // Overrides apply to this world only: a later plain reset starts again from the startup config,
      // so one test's overrides cannot leak into the next test's world.
      for (const s of services) s.dispose?.();
      world = createWorld(structuredClone({ ...baseConfig, ...config }), clock);
      services = factories.map((f) => f(world));
    },
    seed(doc) {
      applySeed(world, services, doc);
    },
    dispose() {
      for (const s of services) s.dispose?.();
    },
  };
  return state;
}

function applySeed(world: World, services: ServiceRuntime[], doc: unknown): void {
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('seed: the document must be a mapping');
  const d = doc as Record<string, unknown>;
  for (const p of (d['principals'] as Array<Record<string, unknown>> | undefined) ?? []) {
    const arn = String(p['arn'] ?? '');
    const accessKeyId = String(p['accessKeyId'] ?? '');
    if (!arn || !accessKeyId) throw new Error('seed: each principal needs accessKeyId and arn');
    const accountId = arn.split(':')[4] || world.config.accountId;
    const type = arn.includes(':root') ? 'root' : arn.includes(':user/') ? 'user' : 'role';
    world.identities.add({
      arn,
      accessKeyId,
      accountId,
      type,
      ...(Array.isArray(p['iamAllow']) ? { iamAllow: p['iamAllow'].map(String) } : {}),
    });
  }
  for (const r of (d['roles'] as Array<Record<string, unknown>> | undefined) ?? []) {
    const role = parseRoleSeed(r);
    world.identities.roles.set(role.arn, role);
  }
  for (const s of services) {
    if (d[s.name] !== undefined) {
      if (!s.seed) throw new Error(`seed: the ${s.name} emulator does not take seed data`);
      s.seed(d[s.name], world);
    }
  }
}

export async function loadSeedFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  return path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
}

const loopback = /^(127\.\d+\.\d+\.\d+|localhost|::1|\[::1\])$/;

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const host = options.host ?? '127.0.0.1';
  if (!loopback.test(host) && !options.allowRemote) {
    throw new Error(
      `emulator: refusing to listen on ${host}; it has no authentication (use a loopback address)`,
    );
  }
  const state = createEmulatorState(options);
  if (options.seedFile) state.seed(await loadSeedFile(options.seedFile));
  if (options.seed !== undefined) state.seed(options.seed);
  const server = createEmulatorServer(state);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    host,
    world: state.world,
    reset: (config) => state.reset(config),
    seed: (doc) => state.seed(doc),
    close: () =>
      new Promise<void>((resolve) => {
        // Pending long polls answer (empty) first, so no request holds the server open.
        state.dispose();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
