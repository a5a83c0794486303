/**
 * Keys and X.509 certificates for DICOM signatures (PS3.15 C.1: Certificate Type "X509_1993_SIG",
 * Certificate of Signer = the DER certificate). PEM loading and key/certificate matching use node
 * `crypto`; certificate chain validation against a trust store and validity period uses @peculiar/x509
 * (RFC 5280 §6 path validation, simplified: issuer name match, issuer signature, validity at a time,
 * CA basic constraint on issuers). Private keys are never logged or returned in reports.
 *
 * Signer policy (signerCertificateProblem): an image signer is an end entity whose key is meant for signatures —
 * keyUsage present with digitalSignature (RFC 5280 §4.2.1.3), not a CA (basicConstraints cA, §4.2.1.9; no
 * keyCertSign). A CA certificate or a certificate issued for another purpose is refused as a signer even when
 * its chain is trusted. The gateway's own audit/result key is issued by a separate audit CA (gateway init), so
 * it never chains to the image-signer trust anchors.
 */
import 'reflect-metadata';
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  X509Certificate as NodeX509,
  webcrypto,
  type KeyObject,
} from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { badInput, mismatch } from '../errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export type KeyAlgorithm = 'RSA' | 'ECDSA';

export interface SignerCredentials {
  key: KeyObject;
  cert: NodeX509;
  /** DER of the signer certificate. */
  certDer: Buffer;
  keyAlgorithm: KeyAlgorithm;
}

/** Split a PEM bundle into its certificates (DER). */
export function pemCertificates(pem: string, what = 'certificate file'): Buffer[] {
  const out: Buffer[] = [];
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
  for (let m = re.exec(pem); m; m = re.exec(pem)) out.push(Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
  if (!out.length) throw badInput(`${what} holds no PEM certificate`);
  return out;
}

export function parseCertificate(der: Uint8Array, what = 'certificate'): NodeX509 {
  try {
    return new NodeX509(Buffer.from(der));
  } catch {
    throw badInput(`${what} is not a valid X.509 certificate`);
  }
}

export function keyAlgorithmOf(key: KeyObject): KeyAlgorithm {
  if (key.asymmetricKeyType === 'rsa') return 'RSA';
  if (key.asymmetricKeyType === 'ec') return 'ECDSA';
  throw badInput(`unsupported key type ${key.asymmetricKeyType ?? 'unknown'}: DICOM signatures use RSA or ECDSA keys`);
}

/** Load a PEM private key and certificate, and check they belong together. */
export function loadSigner(keyPem: string | Buffer, certPem: string | Buffer, passphrase?: string): SignerCredentials {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: keyPem, format: 'pem', passphrase });
  } catch {
    throw badInput('private key file is not a readable PEM private key');
  }
  const certDer = pemCertificates(certPem.toString(), 'certificate file')[0];
  const cert = parseCertificate(certDer, 'signer certificate');
  const keyAlgorithm = keyAlgorithmOf(key);
  if (!cert.checkPrivateKey(key))
    throw mismatch(`private key does not match the certificate (${cert.subject.replace(/\n/g, ', ')})`);
  return { key, cert, certDer, keyAlgorithm };
}

export function subjectOf(cert: NodeX509): string {
  return cert.subject.split('\n').join(', ');
}

// Parsed certificates and verified issuer signatures are cached by DER (bounded): verifying a folder of
// files signed by one signer then costs one certificate-signature check, not one per file.
const parsedCache = new Map<string, x509.X509Certificate>();
const issuedCache = new Map<string, boolean>();
const derKey = (d: Uint8Array | ArrayBuffer): string => createHash('sha256').update(new Uint8Array(d)).digest('base64');
function parsed(der: Uint8Array): x509.X509Certificate {
  const k = derKey(der);
  let c = parsedCache.get(k);
  if (!c) {
    c = new x509.X509Certificate(Buffer.from(der));
    if (parsedCache.size > 1000) parsedCache.clear();
    parsedCache.set(k, c);
  }
  return c;
}
async function issuedBy(cert: x509.X509Certificate, issuer: x509.X509Certificate): Promise<boolean> {
  const k = derKey(cert.rawData) + derKey(issuer.rawData);
  let ok = issuedCache.get(k);
  if (ok === undefined) {
    try {
      ok = await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true });
    } catch {
      ok = false;
    }
    if (issuedCache.size > 1000) issuedCache.clear();
    issuedCache.set(k, ok);
  }
  return ok;
}

/**
 * Why the certificate `der` may not sign images (or DICOM data sets), or undefined when it may:
 * it must carry a keyUsage extension with digitalSignature, and must not be a CA certificate (basicConstraints
 * cA true, or keyUsage keyCertSign / cRLSign). Checked by signDicom before signing and by the verifiers after
 * the chain (RFC 5280 §4.2.1.3, §4.2.1.9; PS3.15 C.1 leaves certificate policy to the site).
 */
export function signerCertificateProblem(der: Uint8Array): string | undefined {
  let c: x509.X509Certificate;
  try {
    c = parsed(der);
  } catch {
    return 'signer certificate is not valid X.509';
  }
  const bc = c.getExtension(x509.BasicConstraintsExtension);
  if (bc?.ca)
    return `signer certificate "${c.subject}" is a CA certificate (basicConstraints cA): a CA does not sign images`;
  const ku = c.getExtension(x509.KeyUsagesExtension);
  if (!ku) return `signer certificate "${c.subject}" has no keyUsage extension: an image signer needs digitalSignature`;
  if (ku.usages & (x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign))
    return `signer certificate "${c.subject}" is a CA key (keyUsage keyCertSign/cRLSign): a CA does not sign images`;
  if (!(ku.usages & x509.KeyUsageFlags.digitalSignature))
    return `signer certificate "${c.subject}" lacks the digitalSignature key usage`;
  return undefined;
}

export interface ChainResult {
  trusted: boolean;
  reason?: string;
  chain: string[];
}

/**
 * Validate `signer` against trust anchors at time `at`: walk issuers among anchors and intermediates,
 * verifying each signature and validity period, until a trust anchor is reached.
 */
export async function validateChain(
  signerDer: Uint8Array,
  anchorsDer: Uint8Array[],
  intermediatesDer: Uint8Array[],
  at: Date,
): Promise<ChainResult> {
  if (!anchorsDer.length) return { trusted: false, reason: 'no trust anchors given (use --trust CA.pem)', chain: [] };
  let cur: x509.X509Certificate;
  try {
    cur = parsed(signerDer);
  } catch {
    return { trusted: false, reason: 'signer certificate is not valid X.509', chain: [] };
  }
  const anchors = anchorsDer.map(parsed);
  const pool = [...anchors, ...intermediatesDer.map(parsed)];
  const chain: string[] = [];
  for (let depth = 0; depth < 10; depth++) {
    chain.push(cur.subject);
    if (at < cur.notBefore)
      return {
        trusted: false,
        reason:
          `certificate "${cur.subject}" is not yet valid at ` +
          `${at.toISOString()} (notBefore ${cur.notBefore.toISOString()})`,
        chain,
      };
    if (at > cur.notAfter)
      return {
        trusted: false,
        reason: `certificate "${cur.subject}" expired ${cur.notAfter.toISOString()} (checked at ${at.toISOString()})`,
        chain,
      };
    const curRaw = Buffer.from(cur.rawData);
    if (anchors.some((a) => Buffer.from(a.rawData).equals(curRaw))) return { trusted: true, chain };
    let issuer: x509.X509Certificate | undefined;
    for (const cand of pool) {
      if (cand.subject !== cur.issuer) continue;
      if (await issuedBy(cur, cand)) {
        issuer = cand;
        break;
      }
    }
    if (!issuer) return { trusted: false, reason: `certificate "${cur.subject}" is not issued by a trusted CA`, chain };
    const bc = issuer.getExtension(x509.BasicConstraintsExtension);
    if (!bc?.ca) return { trusted: false, reason: `issuer "${issuer.subject}" is not a CA certificate`, chain };
    cur = issuer;
  }
  return { trusted: false, reason: 'certificate chain too long', chain };
}

export function publicKeyOf(cert: NodeX509): KeyObject {
  return createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' }));
}
