// Who the operator is in AWS, per target (its own credentials or an assumed role): the account the
// generated key policies name and the principal ARN the audit log records. Cached: the answer does
// not change for the life of a credential. Cached per namespace too when a role is assumed: the
// tenancy rules may let one namespace use a role and refuse it to another (clients.ts).

import { GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import type { AwsClients, AwsTarget } from './clients.ts';
import { awsCall } from './errors.ts';

export interface CallerIdentity {
  accountId: string;
  arn: string;
}

export function callerIdentityCache(clients: AwsClients): (target: AwsTarget) => Promise<CallerIdentity> {
  const cache = new Map<string, Promise<CallerIdentity>>();
  return (target) => {
    const key = [target.region, target.roleArn ?? '', target.roleArn ? (target.namespace ?? '') : ''].join(
      '|',
    );
    let hit = cache.get(key);
    if (!hit) {
      hit = awsCall('GetCallerIdentity', () =>
        clients.sts(target).send(new GetCallerIdentityCommand({})),
      ).then((out) => ({
        accountId: out.Account ?? '',
        arn: out.Arn ?? '',
      }));
      hit.catch(() => cache.delete(key));
      cache.set(key, hit);
    }
    return hit;
  };
}
