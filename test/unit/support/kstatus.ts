// kstatus, as sigs.k8s.io/cli-utils computes it for a custom resource (pkg/kstatus/status:
// Compute -> checkGenericProperties; no type-specific rules exist for CRDs, so the generic result
// is final):
//   1. metadata.deletionTimestamp set                     -> Terminating
//   2. status.observedGeneration present and != generation -> InProgress (LatestGenerationNotObserved)
//   3. the first condition, in list order, that is Reconciling=True -> InProgress,
//      or Stalled=True -> Failed (with that condition's message)
//   4. otherwise                                          -> Current ("Resource is current")
// The Ready condition plays no part. This is what Flux (`wait: true`, health checks) and
// `kpt live status` use.

export type KstatusStatus = 'InProgress' | 'Failed' | 'Current' | 'Terminating';

export interface KstatusResult {
  status: KstatusStatus;
  message: string;
}

interface Obj {
  kind?: string;
  metadata: { generation?: number; deletionTimestamp?: string };
  status?: {
    observedGeneration?: number;
    conditions?: Array<{ type: string; status: string; message?: string }>;
  };
}

export function kstatus(o: Obj): KstatusResult {
  if (o.metadata.deletionTimestamp)
    return { status: 'Terminating', message: 'Resource scheduled for deletion' };
  const generation = o.metadata.generation;
  const observed = o.status?.observedGeneration;
  if (generation !== undefined && observed !== undefined && observed !== generation) {
    return {
      status: 'InProgress',
      message: `${o.kind ?? ''} generation is ${generation}, but latest observed generation is ${observed}`,
    };
  }
  for (const c of o.status?.conditions ?? []) {
    if (c.type === 'Reconciling' && c.status === 'True')
      return { status: 'InProgress', message: c.message ?? '' };
    if (c.type === 'Stalled' && c.status === 'True') return { status: 'Failed', message: c.message ?? '' };
  }
  return { status: 'Current', message: 'Resource is current' };
}
