// What each workload service does differently, as data (WorkloadCapabilities in workload.ts; the rule
// ids there name the AWS facts). Each adapter declares its entry as its `capabilities`; the table is
// kept free of the SDK so the pure plan, its tests and the plugin can read it without loading clients.

import type { WorkloadCapabilities, WorkloadService } from './workload.ts';

/** Managed Service for Apache Flink: a change restarts a running application; material and the key being left matter. */
export const flinkCapabilities: Readonly<WorkloadCapabilities> = {
  changeKeyOperation: 'UpdateApplication',
  comparesEncryptionContext: false,
  outgoingKeyMustStayUsable: true,
  changeRestartsRunning: true,
  keepsMaterialUntilRestart: true,
  reportsKeyAccessibility: false,
  jobLevelKeys: false,
};

/** Amazon Keyspaces: seamless switches (KS-007); the table reports when it cannot reach its key. */
export const keyspacesCapabilities: Readonly<WorkloadCapabilities> = {
  changeKeyOperation: 'UpdateTable',
  comparesEncryptionContext: false,
  outgoingKeyMustStayUsable: false,
  changeRestartsRunning: false,
  keepsMaterialUntilRestart: false,
  reportsKeyAccessibility: true,
  jobLevelKeys: false,
};

/** EMR Serverless: the context is configuration; jobs carry their own keys. Stopping is a typed blocker, not a capability. */
export const emrServerlessCapabilities: Readonly<WorkloadCapabilities> = {
  changeKeyOperation: 'UpdateApplication',
  comparesEncryptionContext: true,
  outgoingKeyMustStayUsable: false,
  changeRestartsRunning: false,
  keepsMaterialUntilRestart: false,
  reportsKeyAccessibility: false,
  jobLevelKeys: true,
};

export const workloadCapabilities: Readonly<Record<WorkloadService, Readonly<WorkloadCapabilities>>> = {
  ManagedFlink: flinkCapabilities,
  Keyspaces: keyspacesCapabilities,
  EmrServerless: emrServerlessCapabilities,
};
