// The workload adapters by service: the one place the reconcile core looks an adapter up. Adding a
// service means one adapter module, its entry in capabilities.ts and one line here. The core never
// branches on the service: what differs reaches it as the adapter's declared capabilities, typed
// change blockers and typed service facts (workload.ts).

import { emrServerlessAdapter } from './emr-serverless.ts';
import { flinkAdapter } from './flink.ts';
import { keyspacesAdapter } from './keyspaces.ts';
import type { WorkloadAdapter, WorkloadService } from './workload.ts';

export const workloadAdapters: Readonly<Record<WorkloadService, WorkloadAdapter>> = {
  ManagedFlink: flinkAdapter,
  Keyspaces: keyspacesAdapter,
  EmrServerless: emrServerlessAdapter,
};

export function adapterFor(service: WorkloadService): WorkloadAdapter {
  return workloadAdapters[service];
}
