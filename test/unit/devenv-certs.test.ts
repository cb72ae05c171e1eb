// Certificates for the local control plane: what kube-apiserver reads from them (CN as user, every
// O as a group, SANs for loopback), how long they are valid, and that each chains to its CA.

import 'reflect-metadata';
import { createPrivateKey, createPublicKey, X509Certificate as NodeCertificate } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificateAuthority,
  createCertificateAuthority,
  createServiceAccountSigningKey,
  issueClientCertificate,
  issueServingCertificate,
  loadCertificateAuthority,
} from '../../src/dev/devenv/certs.ts';

const dayMs = 24 * 60 * 60 * 1000;
const now = new Date('2026-11-23T10:00:00Z');
let ca: CertificateAuthority;
let otherCa: CertificateAuthority;

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([
    createCertificateAuthority('test-ca', { now }),
    createCertificateAuthority('other-ca', { now }),
  ]);
});

describe('certificate authority', () => {
  it('is a self-signed CA that may sign certificates but not other CAs', async () => {
    const cert = new NodeCertificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=test-ca');
    expect(cert.checkIssued(cert)).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    const constraints = ca.certificate.getExtension(x509.BasicConstraintsExtension);
    expect(constraints?.pathLength).toBe(0);
    const usage = ca.certificate.getExtension(x509.KeyUsagesExtension);
    expect(usage!.usages & x509.KeyUsageFlags.keyCertSign).toBeTruthy();
  });

  it('round-trips through its PEM files and still signs verifiable certificates', async () => {
    const loaded = await loadCertificateAuthority(ca.certPem, ca.keyPem);
    const issued = await issueClientCertificate(loaded, { user: 'reloaded', groups: [] });
    expect(new NodeCertificate(issued.certPem).verify(new NodeCertificate(ca.certPem).publicKey)).toBe(true);
  });
});

describe('client certificate', () => {
  it('names the user in CN and each group in its own O, for clientAuth only', async () => {
    const issued = await issueClientCertificate(ca, {
      user: 'alice',
      groups: ['system:masters', 'tenant:a'],
    });
    const subject = issued.certificate.subjectName;
    expect(subject.getField('CN')).toEqual(['alice']);
    expect(subject.getField('O')).toEqual(['system:masters', 'tenant:a']);
    expect(new NodeCertificate(issued.certPem).ca).toBe(false);
    const eku = issued.certificate.getExtension(x509.ExtendedKeyUsageExtension);
    expect(eku?.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
  });

  it('has no O at all when the identity has no groups', async () => {
    const issued = await issueClientCertificate(ca, { user: 'loner', groups: [] });
    expect(issued.certificate.subjectName.getField('O')).toEqual([]);
  });

  it('chains to its CA and not to another one', async () => {
    const issued = await issueClientCertificate(ca, { user: 'bob', groups: ['dev'] });
    const cert = new NodeCertificate(issued.certPem);
    const issuer = new NodeCertificate(ca.certPem);
    expect(cert.checkIssued(issuer)).toBe(true);
    expect(cert.verify(issuer.publicKey)).toBe(true);
    expect(cert.verify(new NodeCertificate(otherCa.certPem).publicKey)).toBe(false);
    const chain = await new x509.X509ChainBuilder({ certificates: [ca.certificate] }).build(
      issued.certificate,
    );
    expect(chain.map((link) => link.subject)).toEqual(['CN=bob, O=dev', 'CN=test-ca']);
  });

  it('is valid from shortly before issue for a year by default, or as long as asked', async () => {
    const issued = await issueClientCertificate(ca, { user: 'carol', groups: [] }, { now });
    expect(issued.certificate.notBefore.getTime()).toBeLessThanOrEqual(now.getTime());
    expect(now.getTime() - issued.certificate.notBefore.getTime()).toBeLessThanOrEqual(dayMs);
    expect(issued.certificate.notAfter.getTime()).toBe(now.getTime() + 365 * dayMs);
    const short = await issueClientCertificate(ca, { user: 'dave', groups: [] }, { now, validDays: 2 });
    expect(short.certificate.notAfter.getTime()).toBe(now.getTime() + 2 * dayMs);
  });

  it('comes with a PKCS#8 private key that matches the certificate', async () => {
    const issued = await issueClientCertificate(ca, { user: 'erin', groups: [] });
    expect(issued.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const fromKey = createPublicKey(createPrivateKey(issued.keyPem)).export({ type: 'spki', format: 'pem' });
    expect(new NodeCertificate(issued.certPem).publicKey.export({ type: 'spki', format: 'pem' })).toBe(
      fromKey,
    );
  });
});

describe('serving certificate', () => {
  it('covers the loopback names as IP and DNS SANs, for serverAuth', async () => {
    const issued = await issueServingCertificate(ca, ['127.0.0.1', 'localhost', '::1']);
    const cert = new NodeCertificate(issued.certPem);
    expect(cert.subjectAltName).toBe('IP Address:127.0.0.1, DNS:localhost, IP Address:0:0:0:0:0:0:0:1');
    expect(cert.checkHost('localhost')).toBe('localhost');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkHost('example.com')).toBeUndefined();
    expect(cert.verify(new NodeCertificate(ca.certPem).publicKey)).toBe(true);
    const eku = issued.certificate.getExtension(x509.ExtendedKeyUsageExtension);
    expect(eku?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth]);
  });
});

describe('service-account signing key', () => {
  it('is an EC P-256 pair (ES256 for the apiserver) whose halves match', async () => {
    const key = await createServiceAccountSigningKey();
    const privateKey = createPrivateKey(key.privateKeyPem);
    expect(privateKey.asymmetricKeyType).toBe('ec');
    expect(privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(key.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(createPublicKey(privateKey).export({ type: 'spki', format: 'pem' })).toBe(
      createPublicKey(key.publicKeyPem).export({ type: 'spki', format: 'pem' }),
    );
  });
});
