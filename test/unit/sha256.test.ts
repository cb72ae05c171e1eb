// Request signing with remembered HMAC keys (src/aws/sha256.ts): the same bytes as Node's own
// hash and HMAC, and the same SigV4 signatures as the SDK's default hash, whatever the key.

import { createHash, createHmac, randomBytes } from 'node:crypto';
import { Sha256 as SdkSha256 } from '@smithy/core/checksum';
import { HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import { describe, expect, it } from 'vitest';
import { Sha256, textKeysKept } from '../../src/aws/sha256.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

async function ours(secret: string | Uint8Array | undefined, ...parts: Array<string | Uint8Array>) {
  const h = new Sha256(secret);
  for (const p of parts) h.update(p);
  return hex(await h.digest());
}

describe('Sha256 for request signing', () => {
  it('hashes as createHash and signs as createHmac, for string and byte keys and data', async () => {
    for (let i = 0; i < 50; i++) {
      const data = randomBytes(i * 7);
      const text = data.toString('base64');
      expect(await ours(undefined, data, text)).toBe(
        createHash('sha256').update(data).update(text).digest('hex'),
      );
      const byteKey = new Uint8Array(randomBytes(1 + i));
      const textKey = `AWS4${randomBytes(20).toString('base64')}`;
      expect(await ours(byteKey, data)).toBe(createHmac('sha256', byteKey).update(data).digest('hex'));
      expect(await ours(textKey, text)).toBe(createHmac('sha256', textKey).update(text).digest('hex'));
      // A second use of each key (the remembered KeyObject) gives the same answer again.
      expect(await ours(byteKey, data)).toBe(createHmac('sha256', byteKey).update(data).digest('hex'));
      expect(await ours(textKey, text)).toBe(createHmac('sha256', textKey).update(text).digest('hex'));
    }
  });

  it('takes a byte key by its bytes, not by the array that held them', async () => {
    const key = new Uint8Array(32).fill(1);
    const first = await ours(key, 'data');
    key.fill(2); // the same array refilled: another key
    expect(await ours(key, 'data')).toBe(createHmac('sha256', key).update('data').digest('hex'));
    expect(await ours(key, 'data')).not.toBe(first);
    // A view into a larger buffer is its own bytes only.
    const big = randomBytes(64);
    const view = new Uint8Array(big.buffer, big.byteOffset + 16, 20);
    expect(await ours(view, 'x')).toBe(createHmac('sha256', big.subarray(16, 36)).update('x').digest('hex'));
  });

  it('keeps the SDK contract: no secret or an empty one is a plain hash, an HMAC ends at digest, reset starts over', async () => {
    expect(await ours('', 'abc')).toBe(createHash('sha256').update('abc').digest('hex'));
    const plain = new Sha256();
    plain.update('a');
    const once = hex(await plain.digest());
    plain.update('b'); // a plain hash goes on after a digest
    expect(hex(await plain.digest())).toBe(createHash('sha256').update('ab').digest('hex'));
    expect(once).toBe(createHash('sha256').update('a').digest('hex'));
    const mac = new Sha256('k');
    mac.update('a');
    await mac.digest();
    expect(() => mac.update('b')).toThrow(/finished/);
    mac.reset();
    mac.update('b');
    expect(hex(await mac.digest())).toBe(createHmac('sha256', 'k').update('b').digest('hex'));
  });

  it('remembers a bounded number of string keys and still signs right past the bound', async () => {
    const keys = Array.from({ length: textKeysKept * 3 }, (_, i) => `secret-${i}`);
    for (const k of keys) expect(await ours(k, 'd')).toBe(createHmac('sha256', k).update('d').digest('hex'));
    expect(await ours(keys[0]!, 'd')).toBe(createHmac('sha256', keys[0]!).update('d').digest('hex'));
  });

  it('gives SigV4 the signatures the SDK default gives, and the published example signature', async () => {
    const credentials = {
      accessKeyId: 'AKIDEXAMPLE',
      secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
    };
    const request = () =>
      new HttpRequest({
        method: 'GET',
        protocol: 'https:',
        hostname: 'iam.amazonaws.com',
        path: '/',
        query: { Action: 'ListUsers', Version: '2010-05-08' },
        headers: {
          host: 'iam.amazonaws.com',
          'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
        },
      });
    const signer = (sha256: typeof Sha256 | typeof SdkSha256, region = 'us-east-1', service = 'iam') =>
      new SignatureV4({ credentials, region, service, sha256, applyChecksum: false });
    const signingDate = new Date('2015-08-30T12:36:00Z');
    const authorization = async (s: SignatureV4) =>
      ((await s.sign(request(), { signingDate })) as HttpRequest).headers['authorization'];
    const ourAuth = await authorization(signer(Sha256));
    expect(ourAuth).toBe(await authorization(signer(SdkSha256)));
    expect(ourAuth).toContain('Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7');
    // Many scopes (more than the SDK's 50 cached signing keys) and a POST with a body.
    for (let i = 0; i < 60; i++) {
      const region = `xx-test-${i}`;
      for (const service of ['kms', 'cassandra']) {
        const post = (sha256: typeof Sha256 | typeof SdkSha256) =>
          new SignatureV4({ credentials, region, service, sha256 }).sign(
            new HttpRequest({
              method: 'POST',
              protocol: 'https:',
              hostname: `${service}.${region}.amazonaws.com`,
              path: '/',
              headers: {
                host: `${service}.${region}.amazonaws.com`,
                'x-amz-target': 'TrentService.DescribeKey',
              },
              body: JSON.stringify({ KeyId: `alias/k-${i}` }),
            }),
            { signingDate },
          );
        const [a, b] = await Promise.all([post(Sha256), post(SdkSha256)]);
        expect((a as HttpRequest).headers['authorization']).toBe((b as HttpRequest).headers['authorization']);
      }
    }
  });
});
