// The emulator's whole state: clock and timeline, identities, the call log, fault rules, and one
// store per service. Services talk to each other only through the narrow interfaces here (MSF,
// Keyspaces and EMR ask KMS about keys through `KmsAccess`), never by reaching into another
// service's store.

import { type CallLog, createCallLog } from './calllog.ts';
import { type Clock, createTimeline, type Timeline } from './clock.ts';
import { createFaultInjector, type FaultInjector } from './faults.ts';
import { createIdentityStore, type IdentityStore, type Principal } from './identity.ts';
import { type Random, seededRandom } from './random.ts';
import { createEventTrail, type EventTrail } from './trail.ts';

export interface EmulatorConfig {
  /** The account every resource lives in unless a seed says otherwise. */
  accountId: string;
  /** Region used when a request carries no SigV4 scope. */
  defaultRegion: string;
  /** PRNG seed for faults and transition durations. */
  seed: number;
  /**
   * How long asynchronous transitions take, in ms, drawn uniformly from [min, max]. `default`
   * applies to every kind not named; kinds are `<service>.<transition>`, e.g. `kinesisanalytics.UPDATING`.
   */
  transitions: Record<string, { min: number; max: number }>;
  /** KMS on-demand rotations allowed per key (AWS sources disagree: 10, 25 or 50). */
  onDemandRotationCap: number;
  /** Aliases per key. */
  aliasesPerKey: number;
  /** Grants per key. */
  grantsPerKey: number;
}

export const defaultConfig: EmulatorConfig = {
  accountId: '111122223333',
  defaultRegion: 'us-east-1',
  seed: 1,
  transitions: { default: { min: 1000, max: 3000 } },
  onDemandRotationCap: 10,
  aliasesPerKey: 50,
  grantsPerKey: 50_000,
};

/** What other services may ask of KMS. Implemented by services/kms.ts. */
export interface KeyView {
  keyId: string;
  arn: string;
  accountId: string;
  region: string;
  state: string;
  keySpec: string;
  keyUsage: string;
  keyManager: 'CUSTOMER' | 'AWS';
  origin: string;
  currentKeyMaterialId: string;
}

export type WorkloadService = 'kinesisanalytics' | 'cassandra' | 'emr-serverless';

export interface ServiceUseRequest {
  key: KeyView;
  service: WorkloadService;
  /** The principal on whose behalf the service acts (the caller of the workload API). */
  caller: Principal;
  region: string;
  accountId: string;
  /** The workload's ARN, for aws:SourceArn conditions. */
  sourceArn: string;
  encryptionContext: Record<string, string>;
}

export interface KmsAccess {
  /** Resolves a key id, key ARN, alias name or alias ARN within an account and region. */
  findKey(ref: string, region: string, accountId: string): KeyView | undefined;
  /**
   * Evaluates the key policy (and the caller's IAM allowances) the way the service's own KMS calls
   * would be evaluated when a workload is switched to the key. Returns undefined when allowed, or a
   * message naming the principal, action or condition that is missing.
   */
  serviceUseDenied(request: ServiceUseRequest): string | undefined;
  /** Creates a grant on behalf of a service; throws LimitExceededException when the key is full. */
  createServiceGrant(
    keyId: string,
    grant: {
      name: string;
      granteeServicePrincipal: string;
      operations: string[];
      encryptionContextSubset?: Record<string, string>;
      retiringServicePrincipal?: string;
    },
  ): string;
  /** Retires a grant created by createServiceGrant (no error when already gone). */
  retireServiceGrant(keyId: string, grantId: string): void;
  /** Number of grants currently on the key. */
  grantCount(keyId: string): number;
  /** Called whenever a key changes state, material or is deleted. */
  onKeyChange(listener: (key: KeyView, deleted: boolean) => void): void;
}

export interface World {
  readonly config: EmulatorConfig;
  readonly clock: Clock;
  readonly timeline: Timeline;
  readonly random: Random;
  readonly identities: IdentityStore;
  readonly log: CallLog;
  readonly faults: FaultInjector;
  /** Set by the KMS service when it is created. */
  kms: KmsAccess;
  /** CloudTrail-shaped events of successful mutations, published into an SQS queue when one is named. */
  readonly events: EventTrail;
  /** A duration in ms for a transition kind, drawn from the configured range. */
  transitionMs(kind: string): number;
  /** Runs every timeline event due by now. */
  settle(): void;
}

export function createWorld(config: EmulatorConfig, clock: Clock): World {
  const random = seededRandom(config.seed);
  const timeline = createTimeline();
  const notReady = (): never => {
    throw new Error('KMS service not registered');
  };
  const world: World = {
    config,
    clock,
    timeline,
    random,
    identities: createIdentityStore(config.accountId),
    log: createCallLog(),
    faults: createFaultInjector(seededRandom(config.seed ^ 0x5eed)),
    events: createEventTrail({ config, clock, timeline }),
    kms: {
      findKey: notReady,
      serviceUseDenied: notReady,
      createServiceGrant: notReady,
      retireServiceGrant: notReady,
      grantCount: notReady,
      onKeyChange: notReady,
    },
    transitionMs(kind) {
      const range = config.transitions[kind] ?? config.transitions['default'] ?? { min: 0, max: 0 };
      return random.int(range.min, Math.max(range.min, range.max));
    },
    settle() {
      timeline.settle(clock.now());
    },
  };
  return world;
}
