// The operator's IAM policy (docs/iam-policy.json) is exactly what its AWS adapters call: every SDK
// command used in src/aws/ is allowed, and every allowed action is used by some command.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { operatorIamPolicy } from '../../src/keys/iam.ts';

const awsDir = join(process.cwd(), 'src', 'aws');

/** IAM actions per SDK command, by the client module the command comes from. */
function actionsFor(client: string, command: string): string[] {
  const op = command.replace(/Command$/, '');
  switch (client) {
    case 'kms':
      return [`kms:${op}`];
    case 'kinesis-analytics-v2':
      return [`kinesisanalytics:${op}`];
    case 'emr-serverless':
      return op === 'StartJobRun' ? ['emr-serverless:StartJobRun', 'iam:PassRole'] : [`emr-serverless:${op}`];
    case 'keyspaces':
      return (
        {
          GetTable: ['cassandra:Select'],
          ListKeyspaces: ['cassandra:Select'],
          ListTables: ['cassandra:Select'],
          ListTagsForResource: ['cassandra:Select'],
          UpdateTable: ['cassandra:Alter'],
        }[op] ?? [`cassandra:${op}`]
      );
    case 'sts':
      return op === 'GetCallerIdentity' ? [] : [`sts:${op}`];
    default:
      throw new Error(`unknown client ${client}`);
  }
}

function usedActions(): Set<string> {
  const used = new Set<string>();
  for (const file of readdirSync(awsDir).filter((f) => f.endsWith('.ts'))) {
    const text = readFileSync(join(awsDir, file), 'utf8');
    for (const m of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-([a-z0-9-]+)'/g)) {
      for (const entry of m[1]!.split(',').map((s) => s.trim().replace(/^type\s+/, ''))) {
        // `ListApplicationsCommand as ListFlinkApplicationsCommand`: the command, and its local name.
        const [name = '', local = name] = entry.split(/\s+as\s+/);
        if (name.endsWith('Command') && text.includes(`new ${local}(`))
          for (const a of actionsFor(m[2]!, name)) used.add(a);
      }
    }
  }
  // CreateKey with Tags needs kms:TagResource as well.
  if (used.has('kms:CreateKey')) used.add('kms:TagResource');
  // Role assumption goes through @aws-sdk/credential-providers (fromTemporaryCredentials) in clients.ts.
  used.add('sts:AssumeRole');
  // Switching a workload to a key makes the service use it on the caller's behalf (kms:ViaService).
  for (const a of [
    'kms:Decrypt',
    'kms:Encrypt',
    'kms:GenerateDataKey',
    'kms:GenerateDataKeyWithoutPlaintext',
    'kms:ReEncryptFrom',
    'kms:ReEncryptTo',
    'kms:CreateGrant',
  ]) {
    used.add(a);
  }
  return used;
}

describe('the operator IAM policy', () => {
  const granted = new Set(operatorIamPolicy().Statement.flatMap((s) => s.Action));
  const used = usedActions();

  it('allows every AWS call the adapters make', () => {
    expect([...used].filter((a) => !granted.has(a)).sort()).toEqual([]);
  });

  it('allows nothing the operator never calls', () => {
    expect([...granted].filter((a) => !used.has(a)).sort()).toEqual([]);
  });
});
