// Amazon Managed Service for Apache Flink (API kinesisanalyticsv2, awsJson1_1, target prefix
// KinesisAnalytics_20180523): applications with a version id and a conditional token, an
// asynchronous status walk reported through operations, snapshots that keep the key they were written
// under, and the customer-managed-key (CMK) rules MSF-004..MSF-019.
//
//   state.ts       the data model and store (applications, snapshots, operations, key index)
//   rules.ts       pure rules with their ids (runtimes, key checks, storage problems, key alarms)
//   operations.ts  the request handlers
//   views.ts       response shapes
//   seed.ts        the `kinesisanalytics` seed section
// The key checks on create/update are the shared chain in core/key-usable.ts, worded MSF's way.
//
// Two keys per application, because AWS distinguishes them (MSF-011..MSF-013, MSF-017):
//   - the configured key: what DescribeApplication reports, changed by UpdateApplication at once;
//   - the running storage: the key AND key material captured when the application last (re)started.
//     A READY application has none; a key change or a rotation reaches it only through a restart.
// Both are visible in snapshot() (`configuredKey`, `runningStorage`, `keyMaterialCurrent`) so tests
// can tell "configured" from "in use".
//
// Choices where the sources are silent (UNCONFIRMED, stricter behaviour picked; also in emulator/README.md):
//   - Every key-validation failure is InvalidArgumentException (400) naming the key and what is missing.
//   - A key ARN or alias ARN from another region or account is rejected (cross-account is undocumented).
//   - CMKs need FLINK-1_20 or later; SQL and Zeppelin runtimes are rejected with a CMK too.
//   - KeyIdUpdate/KeyId with AWS_OWNED_KEY is rejected; CUSTOMER_MANAGED_KEY without a key id is rejected.
//   - Leaving a CMK (to another CMK or to AWS_OWNED_KEY) runs the same policy evaluation on the old key
//     (MSF-015); a key that no longer exists cannot be evaluated and is not checked.
//   - UpdateApplication on a RUNNING application whose running key is not Enabled is rejected at once: the
//     restart needs a snapshot under that key. A key that breaks during UPDATING fails the operation and the
//     application ends READY (no system rollback is modelled).
//   - StartApplication checks the configured CMK and the CMK of the snapshot it restores from (MSF-014/018)
//     when STARTING ends; a failure ends the operation FAILED and the application READY with ErrorString.
//   - StopApplication without Force needs the running key for its snapshot: if the key is not Enabled the
//     stop operation FAILS and the application stays RUNNING (only Force stops it).
//   - A CMK disabled or scheduled for deletion while RUNNING does not change the status (MSF-019); it is
//     recorded as `keyAlarm` in snapshot() and makes the next Start/Update/snapshot fail.
//   - ConditionalToken changes on every accepted UpdateApplication, StartApplication and StopApplication.
//   - UpdateApplication must carry exactly one of CurrentApplicationVersionId and ConditionalToken, and at
//     least one update member.
//   - ApplicationEncryptionConfigurationDescription is omitted for applications that never declared an
//     encryption configuration (the legacy AWS-owned default); snapshots always carry it.
//   - A DeleteApplication CreateTimestamp that does not match is InvalidArgumentException.
//   - ListApplicationOperations lists newest first; ListApplicationSnapshots oldest first.
//   - Snapshots are enabled unless ApplicationSnapshotConfiguration says otherwise (AWS's default is
//     unconfirmed). With them off (MSF-026) a stop or a running update takes no snapshot, needs no key for
//     one, and the running state is lost. RollbackApplication and the SQL/VPC/logging members are not
//     modelled (accepted and ignored where they are members of Create/UpdateApplication).
//   - Every StartApplication, StopApplication and UpdateApplication is an operation with its StartTime on
//     the emulator clock, whoever called it (MSF-025); a seeded RUNNING application has a successful
//     StartApplication at the time it was seeded.
//
// Transition kinds (world.transitionMs): kinesisanalytics.STARTING, .UPDATING, .STOPPING,
// .FORCE_STOPPING, .DELETING, .SNAPSHOT.
//
// Seed section `kinesisanalytics`:
//   applications:
//     - name: orders            # required
//       runtime: FLINK-1_20     # default FLINK-1_20
//       status: RUNNING         # READY (default) | RUNNING
//       keyType: CUSTOMER_MANAGED_KEY   # default: CUSTOMER_MANAGED_KEY when keyId is set, else AWS_OWNED_KEY
//       keyId: alias/flink      # id, ARN, alias name or alias ARN; resolved through KMS (stored as key ARN)
//       region: us-east-1       # default config.defaultRegion
//       accountId: '111122223333'  # default config.accountId
//       serviceExecutionRole: arn:aws:iam::111122223333:role/flink   # default <account>:role/<name>-role
//       tags: { team: data }
//       snapshotsEnabled: false # default true
// Seeded applications skip the policy evaluation (no caller); a RUNNING one runs on the key's current material.

import type { ServiceRuntime } from '../../core/service.ts';
import type { World } from '../../core/world.ts';
import { msfOperations } from './operations.ts';
import { seedMsf } from './seed.ts';
import { createMsfStore } from './state.ts';
import { applicationState } from './views.ts';

export function createMsfService(world: World): ServiceRuntime {
  const store = createMsfStore(world);
  return {
    name: 'kinesisanalytics',
    protocol: 'awsJson1_1',
    targetPrefix: 'KinesisAnalytics_20180523',
    operations: msfOperations(world, store),
    routes: [],
    seed: (section) => seedMsf(world, store, section),
    snapshot: () => ({
      applications: [...store.apps.values()].map((app) =>
        applicationState(
          app,
          app.running?.keyArn
            ? world.kms.findKey(app.running.keyArn, app.region, app.accountId)?.currentKeyMaterialId
            : undefined,
        ),
      ),
    }),
  };
}
