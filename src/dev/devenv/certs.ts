// Certificates and keys for a throwaway local control plane: a CA for the apiserver's serving
// certificate, a separate client CA whose certificates the apiserver trusts as identities
// (CN = user, one O per group: Kubernetes' x509 authenticator reads them that way), and the
// service-account token signing key pair.
//
// Everything is EC P-256 / ECDSA-SHA256 with PKCS#8 private keys: kube-apiserver, client-go and
// Node's TLS all accept it, and the apiserver signs service-account tokens with it as ES256.
// These keys protect nothing but a test cluster on loopback; they are never meant for real use.

// @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const crypto = webcrypto;
const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;
const dayMs = 24 * 60 * 60 * 1000;
// Backdated so a certificate is valid at once even when clocks of processes differ slightly.
const backdateMs = 60 * 60 * 1000;

export interface CertificateAuthority {
  certificate: x509.X509Certificate;
  keys: CryptoKeyPair;
  certPem: string;
  keyPem: string;
}

export interface IssuedCertificate {
  certificate: x509.X509Certificate;
  certPem: string;
  keyPem: string;
}

export interface ServiceAccountSigningKey {
  publicKeyPem: string;
  privateKeyPem: string;
}

export interface Validity {
  validDays?: number;
  now?: Date;
}

function validityWindow(validity: Validity, defaultDays: number): { notBefore: Date; notAfter: Date } {
  const now = validity.now ?? new Date();
  return {
    notBefore: new Date(now.getTime() - backdateMs),
    notAfter: new Date(now.getTime() + (validity.validDays ?? defaultDays) * dayMs),
  };
}

function generateKeys(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']);
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await crypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

export async function createCertificateAuthority(
  commonName: string,
  validity: Validity = {},
): Promise<CertificateAuthority> {
  const keys = await generateKeys();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: [{ CN: [commonName] }],
      keys,
      signingAlgorithm,
      ...validityWindow(validity, 3650),
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return {
    certificate,
    keys,
    certPem: certificate.toString('pem'),
    keyPem: await privateKeyPem(keys.privateKey),
  };
}

/** Rebuilds a CA from the PEM files written by an earlier `createCertificateAuthority`. */
export async function loadCertificateAuthority(
  certPem: string,
  keyPem: string,
): Promise<CertificateAuthority> {
  const certificate = new x509.X509Certificate(certPem);
  const privateKey = await crypto.subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(keyPem),
    keyAlgorithm,
    true,
    ['sign'],
  );
  const publicKey = await certificate.publicKey.export(keyAlgorithm, ['verify'], crypto);
  return { certificate, keys: { privateKey, publicKey }, certPem, keyPem };
}

async function issue(
  ca: CertificateAuthority,
  subject: x509.JsonName,
  extensions: x509.Extension[],
  validity: Validity,
): Promise<IssuedCertificate> {
  const keys = await generateKeys();
  const certificate = await x509.X509CertificateGenerator.create(
    {
      subject,
      issuer: ca.certificate.subjectName,
      publicKey: keys.publicKey,
      signingKey: ca.keys.privateKey,
      signingAlgorithm,
      ...validityWindow(validity, 365),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey, false, crypto),
        ...extensions,
      ],
    },
    crypto,
  );
  return { certificate, certPem: certificate.toString('pem'), keyPem: await privateKeyPem(keys.privateKey) };
}

const ipPattern = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:]*)$/i;

/** A TLS server certificate for the given DNS names and IP addresses (e.g. `127.0.0.1`, `localhost`). */
export async function issueServingCertificate(
  ca: CertificateAuthority,
  hosts: string[],
  validity: Validity = {},
): Promise<IssuedCertificate> {
  const names = hosts.map((host) => ({ type: ipPattern.test(host) ? 'ip' : 'dns', value: host }) as const);
  return issue(
    ca,
    [{ CN: [hosts[0] ?? 'localhost'] }],
    [
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
    ],
    validity,
  );
}

/** A TLS client certificate the apiserver reads as user `user` in groups `groups`. */
export async function issueClientCertificate(
  ca: CertificateAuthority,
  identity: { user: string; groups: string[] },
  validity: Validity = {},
): Promise<IssuedCertificate> {
  const subject: x509.JsonName = [
    { CN: [identity.user] },
    ...identity.groups.map((group) => ({ O: [group] })),
  ];
  return issue(
    ca,
    subject,
    [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
    validity,
  );
}

export async function createServiceAccountSigningKey(): Promise<ServiceAccountSigningKey> {
  const keys = await generateKeys();
  return {
    publicKeyPem: x509.PemConverter.encode(
      await crypto.subtle.exportKey('spki', keys.publicKey),
      'PUBLIC KEY',
    ),
    privateKeyPem: await privateKeyPem(keys.privateKey),
  };
}
