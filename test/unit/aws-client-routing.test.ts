// Which calls go through a service's read client and which through its change client
// (src/aws/clients.ts): the SDK's adaptive rate limiter of one is not slowed by the other's throttling.

import {
  CancelJobRunCommand,
  GetApplicationCommand,
  ListJobRunsCommand,
  StartApplicationCommand,
  UpdateApplicationCommand as UpdateEmrApplicationCommand,
} from '@aws-sdk/client-emr-serverless';
import { GetTableCommand, ListTablesCommand, UpdateTableCommand } from '@aws-sdk/client-keyspaces';
import {
  DescribeApplicationCommand,
  ListApplicationOperationsCommand,
  ListApplicationsCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateApplicationCommand,
} from '@aws-sdk/client-kinesis-analytics-v2';
import {
  CreateKeyCommand,
  DescribeKeyCommand,
  GetKeyRotationStatusCommand,
  ListGrantsCommand,
  PutKeyPolicyCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { describe, expect, it } from 'vitest';
import { isReadCommand } from '../../src/aws/clients.ts';

describe('isReadCommand', () => {
  it.each(
    [
      new DescribeApplicationCommand({ ApplicationName: 'a' }),
      new ListApplicationOperationsCommand({ ApplicationName: 'a' }),
      new ListApplicationsCommand({}),
      new GetTableCommand({ keyspaceName: 'k', tableName: 't' }),
      new ListTablesCommand({ keyspaceName: 'k' }),
      new GetApplicationCommand({ applicationId: 'a' }),
      new ListJobRunsCommand({ applicationId: 'a' }),
      new DescribeKeyCommand({ KeyId: 'k' }),
      new GetKeyRotationStatusCommand({ KeyId: 'k' }),
      new ListGrantsCommand({ KeyId: 'k' }),
    ].map((c) => [c.constructor.name, c] as const),
  )('a read: %s', (_name, command) => {
    expect(isReadCommand(command)).toBe(true);
  });

  it.each(
    [
      new UpdateApplicationCommand({ ApplicationName: 'a', CurrentApplicationVersionId: 1 }),
      new TagResourceCommand({ ResourceARN: 'arn', Tags: [] }),
      new UntagResourceCommand({ ResourceARN: 'arn', TagKeys: [] }),
      new UpdateTableCommand({ keyspaceName: 'k', tableName: 't' }),
      new UpdateEmrApplicationCommand({ applicationId: 'a' }),
      new StartApplicationCommand({ applicationId: 'a' }),
      new CancelJobRunCommand({ applicationId: 'a', jobRunId: 'j' }),
      new CreateKeyCommand({}),
      new PutKeyPolicyCommand({ KeyId: 'k', Policy: '{}' }),
      new RotateKeyOnDemandCommand({ KeyId: 'k' }),
      new ScheduleKeyDeletionCommand({ KeyId: 'k' }),
    ].map((c) => [c.constructor.name, c] as const),
  )('a change: %s', (_name, command) => {
    expect(isReadCommand(command)).toBe(false);
  });
});
