// SHA-256 and HMAC-SHA256 for the AWS SDK clients' request signing (SigV4), each HMAC key made into
// a Node KeyObject once instead of at every HMAC.
//
// Why: Node 24 turns a string or Buffer HMAC key into a KeyObject inside every createHmac (about
// 16 us; about 3 us from a KeyObject). SigV4 makes two HMACs per request (the credentials' hash
// that keys the signing-key cache, and the signature itself) and five more when that cache misses.
// In a CPU profile of a 5,000-workload sync and switch, createHmac was 4.5 % of the operator's CPU.
//
// Guarantees:
// - The same bytes as `createHash('sha256')` / `createHmac('sha256', key)`, and the same contract
//   as the SDK's default: an HMAC when constructed with a secret (an empty string is none), digest()
//   ends an HMAC, a plain hash can be digested and updated again, reset() starts over.
// - A key is taken from a KeyObject made earlier only when its bytes are the same: byte keys are
//   remembered per array and compared at each use (a caller that refills an array gets a new key);
//   string keys by value, at most `textKeysKept` of them (credentials are few; temporary ones are
//   replaced every hour, so older ones drop out).

import { createHash, createHmac, createSecretKey, type Hash, type Hmac, type KeyObject } from 'node:crypto';

/** What the SDK passes: keys and data as text, bytes or a whole ArrayBuffer. */
type Data = string | ArrayBuffer | ArrayBufferView;

/** The string keys remembered (secret access keys and the `AWS4` + secret derivation start). */
export const textKeysKept = 64;

const byText = new Map<string, KeyObject>();
const byBytes = new WeakMap<ArrayBuffer | ArrayBufferView, { bytes: Buffer; key: KeyObject }>();

function bytesOf(data: ArrayBuffer | ArrayBufferView): Buffer {
  return ArrayBuffer.isView(data)
    ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    : Buffer.from(data);
}

function keyObject(secret: Data): KeyObject {
  if (typeof secret === 'string') {
    let key = byText.get(secret);
    if (!key) {
      key = createSecretKey(Buffer.from(secret, 'utf8'));
      if (byText.size >= textKeysKept) byText.delete(byText.keys().next().value as string);
      byText.set(secret, key);
    }
    return key;
  }
  const bytes = bytesOf(secret);
  const known = byBytes.get(secret);
  if (known?.bytes.equals(bytes)) return known.key;
  // One copy: the key is compared against it at each use, and createSecretKey keeps its own.
  const copy = Buffer.from(bytes);
  const key = createSecretKey(copy);
  byBytes.set(secret, { bytes: copy, key });
  return key;
}

/** The SDK's `sha256` constructor (client config), signing with remembered HMAC keys. */
export class Sha256 {
  readonly digestLength = 32;
  private hash: Hash | Hmac;
  private finished = false;
  private readonly secret: Data | undefined;

  constructor(secret?: Data) {
    this.secret = secret ? secret : undefined;
    this.hash = this.start();
  }

  update(data: Data): void {
    if (this.finished) throw new Error('Attempted to update an already finished hash.');
    this.hash.update(typeof data === 'string' ? data : bytesOf(data));
  }

  async digest(): Promise<Uint8Array> {
    let out: Buffer;
    if (this.secret !== undefined) {
      this.finished = true;
      out = this.hash.digest();
    } else out = (this.hash as Hash).copy().digest();
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  reset(): void {
    this.hash = this.start();
    this.finished = false;
  }

  private start(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', keyObject(this.secret));
  }
}
