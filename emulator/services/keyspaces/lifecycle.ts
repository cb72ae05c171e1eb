// Keyspaces table lifecycle on the emulator timeline: the two KMS grants of a CMK table, CREATING and
// UPDATING completing, deletion (with the backup grant released 42 days later), and the lockout while
// a key is unusable. Shared by the request handlers and the seed.

import { keyspacesKeyVocabulary, requireKeyUsable } from '../../core/key-usable.ts';
import { AwsError } from '../../core/protocol.ts';
import type { CallContext } from '../../core/service.ts';
import type { KeyView, World } from '../../core/world.ts';
import {
  backupGrantMs,
  encryptionContext,
  grantOperations,
  grantQuotaMessage,
  lockoutMs,
  servicePrincipal,
  statusAfterKeyChange,
  tableKeyUsable,
  validation,
} from './rules.ts';
import { type Keyspace, type KeyspacesStore, type Table, type TableGrants, tableContext } from './state.ts';

export interface TableLifecycle {
  /** The key-usable chain worded the Keyspaces way (KS-012, KS-013): the key, or ValidationException. */
  usableKey(ctx: CallContext, t: { keyspace: Keyspace; name: string; arn: string }, arn: string): KeyView;
  /** KS-014, KS-016: creates both grants or neither. */
  createGrants(key: KeyView, t: Table): TableGrants;
  retireGrants(g: TableGrants | undefined): void;
  /** KS-018: whether the table's key serves data now. */
  keyUsable(t: Table): boolean;
  markInaccessible(t: Table, at: number): void;
  beginDelete(t: Table, at: number): void;
  scheduleCreated(t: Table, at: number): void;
  scheduleUpdated(t: Table, at: number): void;
}

export function createTableLifecycle(world: World, store: KeyspacesStore): TableLifecycle {
  const life: TableLifecycle = {
    usableKey(ctx, t, arn) {
      return requireKeyUsable(world.kms, keyspacesKeyVocabulary, {
        service: 'cassandra',
        ref: arn,
        region: ctx.region,
        accountId: ctx.accountId,
        caller: ctx.caller,
        sourceArn: t.arn,
        encryptionContext: encryptionContext(tableContext(t)),
      });
    },

    createGrants(key, t) {
      const base = {
        granteeServicePrincipal: servicePrincipal,
        retiringServicePrincipal: servicePrincipal,
        operations: grantOperations,
        encryptionContextSubset: encryptionContext(tableContext(t)),
      };
      let tableGrantId: string | undefined;
      try {
        tableGrantId = world.kms.createServiceGrant(key.arn, { ...base, name: `keyspaces-${t.uid}-table` });
        const backupGrantId = world.kms.createServiceGrant(key.arn, {
          ...base,
          name: `keyspaces-${t.uid}-backup`,
        });
        return { keyArn: key.arn, tableGrantId, backupGrantId };
      } catch (e) {
        if (tableGrantId !== undefined) world.kms.retireServiceGrant(key.arn, tableGrantId);
        if (e instanceof AwsError && e.code === 'LimitExceededException')
          throw validation(grantQuotaMessage(key.arn));
        throw e;
      }
    },

    retireGrants(g) {
      if (!g) return;
      world.kms.retireServiceGrant(g.keyArn, g.tableGrantId);
      world.kms.retireServiceGrant(g.keyArn, g.backupGrantId);
    },

    keyUsable(t) {
      const id = t.encryption.kmsKeyIdentifier;
      return tableKeyUsable(
        t.encryption,
        id === undefined
          ? undefined
          : world.kms.findKey(id, t.keyspace.scope.region, t.keyspace.scope.accountId),
      );
    },

    // KS-019: 7 days without key access, then the table is deleted.
    markInaccessible(t, at) {
      store.setStatus(t, 'INACCESSIBLE_ENCRYPTION_CREDENTIALS');
      t.lockout?.cancel();
      t.lockout = world.timeline.schedule(
        at + lockoutMs,
        `cassandra ${t.arn} deleted after 7 days without key access`,
        () => {
          t.lockout = undefined;
          if (t.status === 'INACCESSIBLE_ENCRYPTION_CREDENTIALS') life.beginDelete(t, at + lockoutMs);
        },
      );
    },

    beginDelete(t, at) {
      t.lockout?.cancel();
      t.lockout = undefined;
      store.setStatus(t, 'DELETING');
      // KS-015: one grant goes now, the one protecting the automatic backup 42 days later.
      const grants = t.grants;
      if (grants) {
        world.kms.retireServiceGrant(grants.keyArn, grants.tableGrantId);
        world.timeline.schedule(at + backupGrantMs, `cassandra ${t.arn} backup grant released`, () =>
          world.kms.retireServiceGrant(grants.keyArn, grants.backupGrantId),
        );
      }
      life.retireGrants(t.outgoingGrants);
      t.outgoingGrants = undefined;
      const done = at + world.transitionMs('cassandra.DELETING');
      world.timeline.schedule(done, `cassandra ${t.arn} deleted`, () => store.removeTable(t));
    },

    scheduleCreated(t, at) {
      const done = at + world.transitionMs('cassandra.CREATING');
      world.timeline.schedule(done, `cassandra ${t.arn} CREATING -> ACTIVE`, () => {
        if (t.status !== 'CREATING') return;
        if (life.keyUsable(t)) {
          store.setStatus(t, 'ACTIVE');
          return;
        }
        // KS-021: creation fails when the key became unusable before it completed.
        life.retireGrants(t.grants);
        t.grants = undefined;
        store.removeTable(t);
      });
    },

    scheduleUpdated(t, at) {
      const done = at + world.transitionMs('cassandra.UPDATING');
      world.timeline.schedule(done, `cassandra ${t.arn} UPDATING -> ACTIVE`, () => {
        if (t.status !== 'UPDATING') return;
        // KS-007: the old key's grants go when the switch completes.
        life.retireGrants(t.outgoingGrants);
        t.outgoingGrants = undefined;
        // Where a finished UPDATING lands: ACTIVE, or locked out when the key went away meanwhile.
        if (life.keyUsable(t)) store.setStatus(t, 'ACTIVE');
        else life.markInaccessible(t, done);
      });
    },
  };

  // KS-018: a key change locks out or restores the ACTIVE / inaccessible tables on it.
  world.kms.onKeyChange((key, deleted) => {
    const tables = store.tablesOn(key.arn);
    if (!tables) return;
    const usable = !deleted && key.state === 'Enabled';
    const now = world.clock.now();
    for (const t of [...tables]) {
      const move = statusAfterKeyChange(t.status, usable);
      if (move === 'lock') life.markInaccessible(t, now);
      else if (move === 'restore') {
        t.lockout?.cancel();
        t.lockout = undefined;
        store.setStatus(t, 'ACTIVE');
      }
    }
  });

  return life;
}
