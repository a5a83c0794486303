/**
 * The last act of the demo (Amit et al.'s recommendation): the scanner signs the image it acquired,
 * an attacker swaps in the adversarial pixels on the way to the model and keeps the signature chunk,
 * and verification at the model's door rejects the file. A throw-away test CA and ECDSA P-256 signer
 * are generated in memory for the run (nothing is written; no key leaves the process).
 */
import { pemCertificates, loadSigner } from './certificates.js';
import { createTestCa, issueCertificate } from './test-pki.js';
import { signImage, verifyImage } from './image-signature.js';

/** PNG chunks as [type, start, end) byte ranges. */
function chunks(b: Buffer): Array<{ type: string; start: number; end: number }> {
  const out: Array<{ type: string; start: number; end: number }> = [];
  let off = 8;
  while (off + 12 <= b.length) {
    const len = b.readUInt32BE(off);
    const type = b.toString('latin1', off + 4, off + 8);
    out.push({ type, start: off, end: off + 12 + len });
    off += 12 + len;
    if (type === 'IEND') break;
  }
  return out;
}

/** The attacker's file: the tampered PNG's chunks with the signed file's signature chunk put back after IHDR. */
export function transplantSignature(signedPng: Buffer, tamperedPng: Buffer): Buffer {
  const sig = chunks(signedPng).find((c) => c.type === 'mdSG');
  if (!sig) throw new Error('signed PNG has no mdSG chunk');
  const ihdr = chunks(tamperedPng).find((c) => c.type === 'IHDR')!;
  return Buffer.concat([
    tamperedPng.subarray(0, ihdr.end),
    signedPng.subarray(sig.start, sig.end),
    tamperedPng.subarray(ihdr.end),
  ]);
}

export interface TamperDemo {
  signer: string;
  original: { valid: boolean; reason: string };
  tampered: { valid: boolean; reason: string };
}

export async function tamperDemo(cleanPng: Buffer, adversarialPng: Buffer): Promise<TamperDemo> {
  const ca = await createTestCa('CN=medshield demo CA (throw-away),O=medshield');
  const issued = await issueCertificate(ca, { keyType: 'ec', subject: 'CN=demo scanner,O=medshield' });
  const signer = loadSigner(issued.keyPem, issued.certPem);
  const policy = { trust: pemCertificates(ca.certPem, 'CA certificate'), requireSignature: true };
  const signed = signImage(cleanPng, signer).bytes;
  const original = await verifyImage(signed, policy);
  const tampered = await verifyImage(transplantSignature(signed, adversarialPng), policy);
  return {
    signer: signer.cert.subject,
    original: { valid: original.valid, reason: original.reason },
    tampered: { valid: tampered.valid, reason: tampered.reason },
  };
}
