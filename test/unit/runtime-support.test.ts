// Small pure pieces of the runtime: resource paths and keys, typed API errors, guarded finalizer
// patches, probe reports, log redaction, Kubernetes time formats.

import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { kubeTime, microTime } from '../../src/runtime/clock.ts';
import { addFinalizerPatch, removeFinalizerPatch } from '../../src/runtime/finalizers.ts';
import { livenessReport, parseAddress, readinessReport } from '../../src/runtime/health.ts';
import {
  collectionPath,
  isAlreadyExists,
  isConflict,
  isGone,
  isInvalid,
  isNotFound,
  KubeApiError,
  objectKey,
  objectPath,
  parseObjectKey,
  resourceTypes,
} from '../../src/runtime/kube.ts';
import { createLogger, processLogBase, redactSecrets } from '../../src/runtime/log.ts';

const kmsKeys = { group: 'cmk.io', version: 'v1alpha1', plural: 'kmskeys', namespaced: true, kind: 'KmsKey' };

describe('resource paths and keys', () => {
  it('builds core, group, namespaced and cluster-wide paths', () => {
    expect(collectionPath(resourceTypes.configMap)).toBe('/api/v1/configmaps');
    expect(collectionPath(resourceTypes.configMap, 'team-a')).toBe('/api/v1/namespaces/team-a/configmaps');
    expect(collectionPath(kmsKeys, 'team-a')).toBe('/apis/cmk.io/v1alpha1/namespaces/team-a/kmskeys');
    expect(objectPath(kmsKeys, { namespace: 'team-a', name: 'k' }, 'status')).toBe(
      '/apis/cmk.io/v1alpha1/namespaces/team-a/kmskeys/k/status',
    );
    expect(objectPath(resourceTypes.namespace, { name: 'team-a' })).toBe('/api/v1/namespaces/team-a');
    expect(() => collectionPath(resourceTypes.namespace, 'x')).toThrow(/cluster-scoped/);
    expect(() => objectPath(kmsKeys, { name: 'k' })).toThrow(/namespace required/);
  });

  it('keys are ns/name or name and parse back', () => {
    expect(objectKey({ metadata: { namespace: 'a', name: 'b' } })).toBe('a/b');
    expect(objectKey({ metadata: { name: 'b' } })).toBe('b');
    expect(parseObjectKey('a/b')).toEqual({ namespace: 'a', name: 'b' });
    expect(parseObjectKey('b')).toEqual({ name: 'b' });
  });

  it('typed errors branch on the HTTP status, not on text', () => {
    const err = (code: number, reason: string) =>
      new KubeApiError('GET', '/x', code, { reason, message: 'm' }, '');
    expect(isNotFound(err(404, 'NotFound'))).toBe(true);
    expect(isConflict(err(409, 'Conflict'))).toBe(true);
    expect(isAlreadyExists(err(409, 'AlreadyExists'))).toBe(true);
    expect(isAlreadyExists(err(409, 'Conflict'))).toBe(false);
    expect(isGone(err(410, 'Expired'))).toBe(true);
    expect(isInvalid(err(422, 'Invalid'))).toBe(true);
    expect(isNotFound(new Error('404'))).toBe(false);
    expect(err(404, 'NotFound').message).toBe('GET /x: 404 NotFound m');
  });
});

describe('guarded finalizer patches', () => {
  const obj = (finalizers?: string[]) => ({
    metadata: { name: 'k', namespace: 'n', ...(finalizers ? { finalizers } : {}) },
  });

  it('first finalizer: test that the list is absent, then create it', () => {
    expect(addFinalizerPatch(obj(), 'cmk.io/f')).toEqual([
      { op: 'test', path: '/metadata/finalizers', value: null },
      { op: 'add', path: '/metadata/finalizers', value: ['cmk.io/f'] },
    ]);
  });

  it('another finalizer present: test the whole list, then append', () => {
    expect(addFinalizerPatch(obj(['other.io/x']), 'cmk.io/f')).toEqual([
      { op: 'test', path: '/metadata/finalizers', value: ['other.io/x'] },
      { op: 'add', path: '/metadata/finalizers/-', value: 'cmk.io/f' },
    ]);
  });

  it('remove: test the entry at its index, then remove that index', () => {
    expect(removeFinalizerPatch(obj(['a', 'cmk.io/f', 'b']), 'cmk.io/f')).toEqual([
      { op: 'test', path: '/metadata/finalizers/1', value: 'cmk.io/f' },
      { op: 'remove', path: '/metadata/finalizers/1' },
    ]);
  });

  it('nothing to do: no patch', () => {
    expect(addFinalizerPatch(obj(['cmk.io/f']), 'cmk.io/f')).toBeUndefined();
    expect(removeFinalizerPatch(obj(['a']), 'cmk.io/f')).toBeUndefined();
    expect(removeFinalizerPatch(obj(), 'cmk.io/f')).toBeUndefined();
  });
});

describe('probe reports', () => {
  const informer = (plural: string, synced: boolean, lastProgress: number) => ({
    type: { plural },
    hasSynced: () => synced,
    lastProgress: () => lastProgress,
  });

  it('liveness fails only when an informer made no progress for too long', () => {
    const now = 1_000_000;
    const ok = livenessReport([informer('kmskeys', true, now - 60_000)], [], now, 900_000);
    expect(ok.ok).toBe(true);
    expect(ok.text).toBe('[+]ping ok\n[+]informer-kmskeys ok\nhealthz check passed\n');
    const stale = livenessReport([informer('kmskeys', true, now - 901_000)], [], now, 900_000);
    expect(stale.ok).toBe(false);
    expect(stale.text).toContain('[-]informer-kmskeys failed: no progress for 901 s');
  });

  it('readiness needs every informer synced, and runs extra checks', () => {
    const r = readinessReport(
      [informer('kmskeys', true, 0), informer('flinkapplications', false, 0)],
      [
        {
          name: 'throws',
          check: () => {
            throw new Error('bug');
          },
        },
      ],
    );
    expect(r.ok).toBe(false);
    expect(r.text).toBe(
      '[+]informer-kmskeys ok\n[-]informer-flinkapplications failed: not synced\n[-]throws failed: bug\nreadyz check failed\n',
    );
  });

  it('parses listen addresses', () => {
    expect(parseAddress(':8081')).toEqual({ host: undefined, port: 8081 });
    expect(parseAddress('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseAddress('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
    expect(() => parseAddress('localhost')).toThrow();
  });
});

describe('logger', () => {
  function capture(level?: string, env: Record<string, string> = {}, base?: Record<string, unknown>) {
    const lines: Array<Record<string, unknown>> = [];
    const raw: string[] = [];
    const destination = new Writable({
      write(chunk, _e, cb) {
        raw.push(String(chunk));
        lines.push(JSON.parse(String(chunk)));
        cb();
      },
    });
    return {
      lines,
      raw,
      log: createLogger({ ...(level ? { level } : {}), env, destination, ...(base ? { base } : {}) }),
    };
  }

  it("a subsystem's line names the process and the subsystem, each key once", () => {
    const { lines, raw, log } = capture(undefined, {}, processLogBase);
    log.child({ component: 'inventory' }).info('pass done');
    expect(lines[0]).toMatchObject({ name: 'cmk-operator', component: 'inventory', msg: 'pass done' });
    expect(raw[0]!.match(/"component"/g)).toHaveLength(1);
    expect(raw[0]!.match(/"name"/g)).toHaveLength(1);
  });

  it('redacts AWS credentials, tokens and authorization headers at any of the first levels', () => {
    const { lines, log } = capture();
    log.info(
      {
        credentials: { AccessKeyId: 'AKIA', SecretAccessKey: 's3cr3t' },
        aws: { Credentials: { SecretAccessKey: 's3cr3t', SessionToken: 'tok' } },
        req: { headers: { authorization: 'Bearer abc' } },
        token: 'abc',
        user: { 'client-key-data': 'PEM' },
        keyArn: 'arn:aws:kms:eu-west-1:111122223333:key/1',
      },
      'hello',
    );
    const text = JSON.stringify(lines[0]);
    for (const secret of ['s3cr3t', 'tok"', 'Bearer abc', '"abc"', 'PEM', 'AKIA'])
      expect(text).not.toContain(secret);
    expect(text).toContain('arn:aws:kms:eu-west-1:111122223333:key/1');
    expect(lines[0]).toMatchObject({ level: 'info', msg: 'hello' });
    expect(typeof lines[0]!['time']).toBe('string');
  });

  it("redacts a child logger's bindings, arrays and errors too, three levels down, and leaves the rest as it was", () => {
    const { lines, log } = capture();
    log.child({ session: { credentials: { secretAccessKey: 'child-secret' } } }).info(
      {
        deep: { a: { b: { password: 'level-3' } } },
        list: [{ sessionToken: 'in-array' }],
        err: Object.assign(new Error('denied'), { credentials: 'on-the-error' }),
        n: 1,
      },
      'x',
    );
    const text = JSON.stringify(lines[0]);
    for (const secret of ['child-secret', 'level-3', 'in-array', 'on-the-error'])
      expect(text).not.toContain(secret);
    expect(lines[0]).toMatchObject({
      n: 1,
      err: { type: 'Error', message: 'denied' },
      deep: { a: { b: { password: '[redacted]' } } },
    });
    // An object without a secret is passed through, not copied (the cost of a log line stays flat).
    const plain = { a: { b: [1, 2] }, keyArn: 'arn' };
    expect(redactSecrets(plain)).toBe(plain);
    const withSecret = { a: { token: 't' }, b: { c: 1 } };
    const redacted = redactSecrets(withSecret);
    expect(redacted).toEqual({ a: { token: '[redacted]' }, b: { c: 1 } });
    expect(redacted.b).toBe(withSecret.b);
    expect(withSecret.a.token).toBe('t'); // the caller's object is never changed
  });

  it('takes the level from the option, else LOG_LEVEL, else info', () => {
    expect(capture('debug').log.level).toBe('debug');
    expect(capture(undefined, { LOG_LEVEL: 'warn' }).log.level).toBe('warn');
    expect(capture().log.level).toBe('info');
    expect(() => capture('verbose')).toThrow(/unknown log level/);
  });
});

describe('time formats', () => {
  it('MicroTime has six fractional digits, Time none', () => {
    const t = Date.parse('2026-11-23T10:00:00.123Z');
    expect(microTime(t)).toBe('2026-11-23T10:00:00.123000Z');
    expect(kubeTime(t)).toBe('2026-11-23T10:00:00Z');
  });
});
