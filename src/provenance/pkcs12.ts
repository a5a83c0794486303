/**
 * PKCS #12 (RFC 7292) import: the signer's private key (PKCS8ShroudedKeyBag, PBES2 or legacy PBE as
 * pkijs supports) and certificates (CertBag) from a password-protected .p12/.pfx file, with the MAC
 * integrity check. Parsed with pkijs; the key never leaves memory.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { badInput, mismatch } from '../errors.js';
import { parseCertificate, keyAlgorithmOf, type SignerCredentials } from './certificates.js';

const KEY_BAG = '1.2.840.113549.1.12.10.1.1';
const SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2';
const CERT_BAG = '1.2.840.113549.1.12.10.1.3';

export interface Pkcs12Contents {
  key: KeyObject;
  certificates: Buffer[];
}

export async function readPkcs12(der: Uint8Array, password: string): Promise<Pkcs12Contents> {
  const pwd = new Uint8Array(Buffer.from(password, 'utf8')).buffer;
  let pfx: pkijs.PFX;
  try {
    pfx = new pkijs.PFX({ schema: asn1js.fromBER(new Uint8Array(der).buffer).result });
  } catch {
    throw badInput('not a PKCS #12 file');
  }
  try {
    await pfx.parseInternalValues({ password: pwd, checkIntegrity: true });
  } catch (e) {
    throw badInput(`PKCS #12 integrity check failed (wrong password?): ${(e as Error).message.split('\n')[0]}`);
  }
  const safe = pfx.parsedValue?.authenticatedSafe;
  if (!safe) throw badInput('PKCS #12 file has no authenticated safe');
  try {
    await safe.parseInternalValues({ safeContents: safe.safeContents.map(() => ({ password: pwd })) });
  } catch (e) {
    throw badInput(`cannot decrypt PKCS #12 contents: ${(e as Error).message.split('\n')[0]}`);
  }
  let key: KeyObject | undefined;
  const certificates: Buffer[] = [];
  for (const sc of safe.parsedValue?.safeContents ?? []) {
    for (const bag of sc.value.safeBags) {
      if (bag.bagId === SHROUDED_KEY_BAG) {
        const v = bag.bagValue as pkijs.PKCS8ShroudedKeyBag;
        await (
          v as unknown as { parseInternalValues(p: { password: ArrayBuffer }): Promise<void> }
        ).parseInternalValues({ password: pwd });
        key = createPrivateKey({
          key: Buffer.from(v.parsedValue!.toSchema().toBER(false)),
          format: 'der',
          type: 'pkcs8',
        });
      } else if (bag.bagId === KEY_BAG) {
        key = createPrivateKey({
          key: Buffer.from((bag.bagValue as pkijs.PrivateKeyInfo).toSchema().toBER(false)),
          format: 'der',
          type: 'pkcs8',
        });
      } else if (bag.bagId === CERT_BAG) {
        const cb = bag.bagValue as pkijs.CertBag;
        if (cb.parsedValue instanceof pkijs.Certificate)
          certificates.push(Buffer.from(cb.parsedValue.toSchema().toBER(false)));
      }
    }
  }
  if (!key) throw badInput('PKCS #12 file holds no private key');
  if (!certificates.length) throw badInput('PKCS #12 file holds no certificate');
  return { key, certificates };
}

/** Signer credentials from a PKCS #12 file: the private key and the certificate that matches it. */
export async function loadSignerPkcs12(der: Uint8Array, password: string): Promise<SignerCredentials> {
  const { key, certificates } = await readPkcs12(der, password);
  for (const c of certificates) {
    const cert = parseCertificate(c);
    if (cert.checkPrivateKey(key)) return { key, cert, certDer: c, keyAlgorithm: keyAlgorithmOf(key) };
  }
  throw mismatch('no certificate in the PKCS #12 file matches its private key');
}
