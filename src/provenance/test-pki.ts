/**
 * A throw-away PKI for tests and demos, made with @peculiar/x509 (RFC 5280 certificates):
 * a self-signed RSA CA (basicConstraints CA, keyCertSign) issuing an RSA-2048 signer and an
 * ECDSA P-256 signer (digitalSignature, nonRepudiation). notBefore is backdated one day so a
 * signature made "now" is inside the validity period whatever clock skew or rounding the verifier
 * applies (DCMTK checks the certificate at verification time).
 */
import 'reflect-metadata';
import { KeyObject, webcrypto } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { makeDir, refuseOverwrite, writePrivateFile, writePublicFile } from '../secure-files.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const subtle = webcrypto.subtle;
const RSA = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const DAY = 86400000;

export interface IssuedPem {
  keyPem: string;
  certPem: string;
}
export interface TestCa {
  keys: CryptoKeyPair;
  cert: x509.X509Certificate;
  keyPem: string;
  certPem: string;
}

const pemKey = (k: CryptoKey): string =>
  KeyObject.from(k as unknown as webcrypto.CryptoKey)
    .export({ type: 'pkcs8', format: 'pem' })
    .toString();
const serial = (): string => '01' + Buffer.from(webcrypto.getRandomValues(new Uint8Array(8))).toString('hex');

export async function createTestCa(
  name = 'CN=medshield test CA,O=medshield',
  notBefore = new Date(Date.now() - DAY),
  notAfter = new Date(Date.now() + 365 * DAY),
): Promise<TestCa> {
  const keys = (await subtle.generateKey(RSA, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name,
    notBefore,
    notAfter,
    signingAlgorithm: RSA,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 1, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keys, cert, keyPem: pemKey(keys.privateKey), certPem: cert.toString('pem') + '\n' };
}

export interface IssueOptions {
  subject?: string;
  keyType?: 'rsa' | 'ec';
  notBefore?: Date;
  notAfter?: Date;
  ca?: boolean;
  /**
   * x509.KeyUsageFlags to put in keyUsage instead of the default (digitalSignature | nonRepudiation; keyCertSign for a
   * CA); 0 omits the extension.
   */
  keyUsages?: number;
}

export async function issueCertificate(ca: TestCa, o: IssueOptions = {}): Promise<IssuedPem> {
  const alg = o.keyType === 'ec' ? EC : RSA;
  const keys = (await subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: o.subject ?? `CN=medshield test ${o.keyType === 'ec' ? 'ECDSA' : 'RSA'} signer,O=medshield`,
    issuer: ca.cert.subject,
    notBefore: o.notBefore ?? new Date(Date.now() - DAY),
    notAfter: o.notAfter ?? new Date(Date.now() + 365 * DAY),
    signingAlgorithm: RSA,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(!!o.ca, undefined, true),
      ...(o.keyUsages === 0
        ? []
        : [
            new x509.KeyUsagesExtension(
              o.keyUsages ??
                (o.ca
                  ? x509.KeyUsageFlags.keyCertSign
                  : x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation),
              true,
            ),
          ]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return { keyPem: pemKey(keys.privateKey), certPem: cert.toString('pem') + '\n' };
}

export interface KeyFiles {
  caCert: string;
  caKey: string;
  signerKey: string;
  signerCert: string;
  ecSignerKey: string;
  ecSignerCert: string;
}

/**
 * Write a test CA and RSA + EC signer credentials as PEM files in `dir`: private keys 0600, certificates 0644,
 * whatever the umask and whatever was there before; a folder this creates, or one holding only these files, is
 * 0700 (a shared folder keeps its mode). Refuses (BAD_ARGUMENT) to
 * overwrite any existing file unless `force`.
 */
export async function writeTestPki(dir: string, opts: { force?: boolean } = {}): Promise<KeyFiles> {
  const files: KeyFiles = {
    caCert: path.join(dir, 'ca-cert.pem'),
    caKey: path.join(dir, 'ca-key.pem'),
    signerKey: path.join(dir, 'signer-key.pem'),
    signerCert: path.join(dir, 'signer-cert.pem'),
    ecSignerKey: path.join(dir, 'ec-signer-key.pem'),
    ecSignerCert: path.join(dir, 'ec-signer-cert.pem'),
  };
  refuseOverwrite(Object.values(files), opts.force);
  // A folder holding nothing but these files is ours: make it 0700 even if it existed; a shared folder keeps its mode.
  const ours = new Set(Object.values(files).map((f) => path.basename(f)));
  makeDir(dir, 0o700, existsSync(dir) && statSync(dir).isDirectory() && readdirSync(dir).every((n) => ours.has(n)));
  const ca = await createTestCa();
  const rsa = await issueCertificate(ca, { keyType: 'rsa' });
  const ec = await issueCertificate(ca, { keyType: 'ec' });
  writePublicFile(files.caCert, ca.certPem);
  writePrivateFile(files.caKey, ca.keyPem);
  writePrivateFile(files.signerKey, rsa.keyPem);
  writePublicFile(files.signerCert, rsa.certPem);
  writePrivateFile(files.ecSignerKey, ec.keyPem);
  writePublicFile(files.ecSignerCert, ec.certPem);
  return files;
}
