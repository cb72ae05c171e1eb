// Ciphertext envelope: "EKMS1" | u16 header length | {"k": key ARN, "m": material id} | iv | tag | data.
// AES-256-GCM under the material's random key, with the canonical encryption context as AAD, so a
// wrong context or a foreign blob fails authentication the way KMS reports InvalidCiphertext
// (KMS-009: old material is kept, so ciphertext remembers the material it was made with).

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

const magic = Buffer.from('EKMS1');

function canonicalContext(ec: Record<string, string> | undefined): Buffer {
  const entries = Object.entries(ec ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries));
}

export function seal(
  keyArn: string,
  materialId: string,
  material: Buffer,
  plaintext: Buffer,
  ec?: Record<string, string>,
): Buffer {
  const header = Buffer.from(JSON.stringify({ k: keyArn, m: materialId }));
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', material, iv);
  cipher.setAAD(canonicalContext(ec));
  const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const len = Buffer.alloc(2);
  len.writeUInt16BE(header.length);
  return Buffer.concat([magic, len, header, iv, cipher.getAuthTag(), data]);
}

export interface Envelope {
  keyArn: string;
  materialId: string;
  iv: Buffer;
  tag: Buffer;
  data: Buffer;
}

export function openEnvelope(blob: Buffer): Envelope | undefined {
  if (blob.length < magic.length + 2 || !blob.subarray(0, magic.length).equals(magic)) return undefined;
  const len = blob.readUInt16BE(magic.length);
  const start = magic.length + 2;
  if (blob.length < start + len + 28) return undefined;
  try {
    const h = JSON.parse(blob.subarray(start, start + len).toString('utf8')) as { k?: unknown; m?: unknown };
    if (typeof h.k !== 'string' || typeof h.m !== 'string') return undefined;
    const rest = blob.subarray(start + len);
    return {
      keyArn: h.k,
      materialId: h.m,
      iv: rest.subarray(0, 12),
      tag: rest.subarray(12, 28),
      data: rest.subarray(28),
    };
  } catch {
    return undefined;
  }
}

export function unseal(env: Envelope, material: Buffer, ec?: Record<string, string>): Buffer | undefined {
  try {
    const d = createDecipheriv('aes-256-gcm', material, env.iv);
    d.setAAD(canonicalContext(ec));
    d.setAuthTag(env.tag);
    return Buffer.concat([d.update(env.data), d.final()]);
  } catch {
    return undefined;
  }
}
