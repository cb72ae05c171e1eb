// The CQL that `kubectl cmk plan` prints under a Keyspaces table's plan (src/cli/cql.ts): quoting of
// identifiers and literals, the statement for each key type, and which plans get one.

import { describe, expect, it } from 'vitest';
import {
  alterTableKeyCql,
  cqlIdentifier,
  cqlString,
  keyspacesPlanCql,
  plannedKeyChange,
} from '../../src/cli/cql.ts';
import { renderPlan, type StatusObject } from '../../src/cli/kubectl-cmk.ts';
import { planWorkload } from '../../src/reconcile/workload-plan.ts';
import { awsOwned, cmk, keyA, keyB } from '../fixtures/keys.ts';
import { aws, deleting, notFound, spec, wants, workload } from '../fixtures/workload-plan.ts';

describe('CQL quoting', () => {
  it.each([
    ['plain', 'orders', '"orders"'],
    ['case is kept (quoted identifiers are case-sensitive)', 'Orders_2026', '"Orders_2026"'],
    ['an inner double quote is doubled', 'a"b', '"a""b"'],
    ['two in a row', '""', '""""""'],
    ['a single quote needs nothing', "o'brien", `"o'brien"`],
  ])('identifier: %s', (_, name, quoted) => {
    expect(cqlIdentifier(name)).toBe(quoted);
  });

  it('refuses an empty identifier, naming the field', () => {
    expect(() => cqlIdentifier('', 'tableName')).toThrow('tableName is empty');
    expect(() => alterTableKeyCql('ks', '', awsOwned)).toThrow('tableName is empty');
    expect(() => alterTableKeyCql('', 't', awsOwned)).toThrow('keyspaceName is empty');
  });

  it.each([
    ['plain', 'abc', "'abc'"],
    ['an inner single quote is doubled', "it's", "'it''s'"],
    ['a double quote needs nothing', 'say "hi"', `'say "hi"'`],
    ['empty', '', "''"],
  ])('string literal: %s', (_, text, quoted) => {
    expect(cqlString(text)).toBe(quoted);
  });
});

describe('alterTableKeyCql', () => {
  it('names the customer managed key by ARN', () => {
    expect(alterTableKeyCql('ks', 'tbl', cmk(keyA))).toBe(
      `ALTER TABLE "ks"."tbl" WITH CUSTOM_PROPERTIES = {'encryption_specification': ` +
        `{'encryption_type': 'CUSTOMER_MANAGED_KMS_KEY', 'kms_key_identifier': '${keyA}'}};`,
    );
  });

  it('goes back to the AWS owned key without an identifier', () => {
    expect(alterTableKeyCql('Ks', 'T"1', awsOwned)).toBe(
      `ALTER TABLE "Ks"."T""1" WITH CUSTOM_PROPERTIES = {'encryption_specification': ` +
        `{'encryption_type': 'AWS_OWNED_KMS_KEY'}};`,
    );
  });

  it('quotes the key identifier as a literal, whatever it holds', () => {
    expect(alterTableKeyCql('ks', 't', cmk("arn:x'y"))).toContain(`'kms_key_identifier': 'arn:x''y'`);
  });
});

describe('which plans carry CQL', () => {
  const table = { keyspaceName: 'ks_orders', tableName: 'orders' };
  const cases: Array<[string, ReturnType<typeof workload>, string | undefined]> = [
    ['Enforce: the switch the plan makes', workload('Keyspaces'), keyA],
    ['Observe: the switch it would make', workload('Keyspaces', spec({ mode: 'Observe' })), keyA],
    [
      'Observe, another key',
      workload('Keyspaces', spec({ mode: 'Observe' }), aws({ encryption: cmk(keyB) })),
      keyA,
    ],
    ['already on the desired key: none', workload('Keyspaces', aws({ encryption: cmk(keyA) })), undefined],
    [
      'Observe, already on it: none',
      workload('Keyspaces', spec({ mode: 'Observe' }), aws({ encryption: cmk(keyA) })),
      undefined,
    ],
    ['table not found: none', workload('Keyspaces', notFound), undefined],
    [
      'deleting with RevertToAwsOwned: back to the AWS owned key',
      workload(
        'Keyspaces',
        deleting,
        spec({ deletionPolicy: 'RevertToAwsOwned' }),
        aws({ encryption: cmk(keyA) }),
      ),
      'AWS_OWNED',
    ],
    [
      'wants the AWS owned key',
      workload('Keyspaces', aws({ encryption: cmk(keyB) }), wants(awsOwned)),
      'AWS_OWNED',
    ],
    ['another service: none', workload('ManagedFlink'), undefined],
  ];

  it.each(cases)('%s', (_, input, expected) => {
    const plan = planWorkload(input);
    const cql = keyspacesPlanCql(input, plan, table);
    if (expected === undefined) return expect(cql).toBeUndefined();
    expect(cql).toMatch(/^ALTER TABLE "ks_orders"\."orders" WITH CUSTOM_PROPERTIES = /);
    if (expected === 'AWS_OWNED') expect(cql).toContain(`{'encryption_type': 'AWS_OWNED_KMS_KEY'}`);
    else expect(cql).toContain(`'kms_key_identifier': '${expected}'`);
  });

  it('a spec without the table names gets none', () => {
    const input = workload('Keyspaces');
    expect(keyspacesPlanCql(input, planWorkload(input), {})).toBeUndefined();
    expect(plannedKeyChange(input, planWorkload(input))).toEqual(cmk(keyA));
  });

  it('renderPlan prints it after the conditions', () => {
    const input = workload('Keyspaces', spec({ mode: 'Observe' }));
    const plan = planWorkload(input);
    const o: StatusObject = {
      kind: 'KeyspacesTable',
      metadata: { name: 'orders', namespace: 'team' },
      spec: { mode: 'Observe', ...table },
    };
    const text = renderPlan(o, plan, keyspacesPlanCql(input, plan, table));
    const lines = text.trimEnd().split('\n');
    expect(lines.at(-2)).toBe('  cql (the same key change, for cqlsh):');
    expect(lines.at(-1)).toBe(`    ${alterTableKeyCql('ks_orders', 'orders', cmk(keyA))}`);
    expect(renderPlan(o, plan)).not.toContain('cql');
  });
});
