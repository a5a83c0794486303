/**
 * Real DICOM files (../shared/data/dicom) as fuzzing payloads: files signed by the gateway's trusted test signer
 * (the policy accepts them: 200) and files the policy refuses (422): an unsigned file, a file signed by a signer of
 * an untrusted CA, and a signed file with one pixel byte changed after signing. Refused and accepted images come
 * from different files, so a refused image's model input can never equal an accepted one's.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createTestCa, issueCertificate, loadSigner, signDicom } from '../../src/provenance/index.js';
import type { InitResult } from '../../src/gateway/index.js';

export const FUZZ_SIGNED = ['CT_small.dcm', 'MR_small.dcm', 'GH064.dcm'];
export const FUZZ_UNSIGNED = 'CR1_6154.dcm';
export const FUZZ_UNTRUSTED = 'JPGExtended.dcm';
export const FUZZ_TAMPERED = 'emri_small.dcm';

export interface FuzzImages {
  signed: Buffer[];
  refused: Buffer[];
  names: { signed: string[]; refused: string[] };
}

export async function fuzzImages(
  g: Pick<InitResult, 'signerKey' | 'signerCert'>,
  dicomDir: string,
): Promise<FuzzImages> {
  const read = (f: string) => readFileSync(path.join(dicomDir, f));
  const signer = loadSigner(readFileSync(g.signerKey), readFileSync(g.signerCert));
  const sign = async (b: Buffer, s = signer) =>
    Buffer.from((await signDicom(b, { signer: s, profile: 'base', mac: 'SHA256' })).bytes);
  const signed = await Promise.all(FUZZ_SIGNED.map((f) => sign(read(f))));
  const ca = await createTestCa('CN=not the hospital CA');
  const other = await issueCertificate(ca, { subject: 'CN=untrusted signer', keyType: 'ec' });
  const untrusted = await sign(read(FUZZ_UNTRUSTED), loadSigner(other.keyPem, other.certPem));
  const original = read(FUZZ_TAMPERED);
  const tampered = await sign(original);
  // The last bytes of the original file are the end of its Pixel Data; the signature sequence follows them.
  const at = tampered.indexOf(original.subarray(original.length - 32));
  if (at < 0) throw new Error(`${FUZZ_TAMPERED}: pixel data not found in the signed copy`);
  tampered[at + 16] ^= 0x20;
  return {
    signed,
    refused: [read(FUZZ_UNSIGNED), untrusted, tampered],
    names: {
      signed: FUZZ_SIGNED,
      refused: [
        `${FUZZ_UNSIGNED} (unsigned)`,
        `${FUZZ_UNTRUSTED} (untrusted signer)`,
        `${FUZZ_TAMPERED} (pixel byte changed after signing)`,
      ],
    },
  };
}
