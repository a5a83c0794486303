/**
 * Verify-before-infer: apply the configured signature policy (DICOM PS3.15 digital signatures, checked
 * by src/provenance) to a request body and say whether the model may see it. PNG/JPEG carry no DICOM
 * signature: they pass only when the policy does not require one.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { MedshieldError, oneLine } from '../errors.js';
import { verifyDicom, pemCertificates, parseDicom, type VerifyPolicy } from '../provenance/index.js';
import { findElement, stringValue } from '../provenance/dicom-parse.js';
import type { GatewayConfig, InputType } from './config.js';

export interface ImageCheck {
  valid: boolean;
  signed: boolean;
  signer: string | null;
  profile: string | null;
  reason: string;
  sopInstanceUid: string | null;
  sha256: string;
}

const SOP_INSTANCE_UID = 0x00080018;

export class ImageVerifier {
  private policy: VerifyPolicy;
  constructor(private sig: GatewayConfig['signature']) {
    const certs = (files: string[]) => files.flatMap((f) => pemCertificates(readFileSync(f, 'utf8'), f));
    this.policy = {
      trust: certs(sig.trustedCas), intermediates: certs(sig.intermediates),
      requireSignature: sig.required, requireProfile: sig.requireProfile ?? undefined, requirePixelCoverage: sig.requirePixelCoverage,
    };
  }

  get required(): boolean { return this.sig.required; }

  async check(body: Uint8Array, type: InputType): Promise<ImageCheck> {
    const sha256 = createHash('sha256').update(body).digest('hex');
    const base = { signed: false, signer: null, profile: null, sopInstanceUid: null, sha256 };
    if (type !== 'application/dicom') {
      return this.sig.required
        ? { ...base, valid: false, reason: `unsigned: ${type} carries no DICOM signature and the policy requires one` }
        : { ...base, valid: true, reason: 'unsigned (allowed by policy)' };
    }
    let sopInstanceUid: string | null = null;
    try {
      const p = parseDicom(body);
      sopInstanceUid = stringValue(p, findElement(p.dataset, SOP_INSTANCE_UID))?.trim() || null;
      const rep = await verifyDicom(body, this.policy);
      const main = rep.signatures.find((s) => s.location === 'dataset' && s.valid) ?? rep.signatures[0];
      return { valid: rep.valid, signed: rep.signed, signer: main?.signer ?? null, profile: main ? main.profile : null, reason: rep.reason, sopInstanceUid, sha256 };
    } catch (e) {
      if (e instanceof MedshieldError) return { ...base, sopInstanceUid, valid: false, reason: `not a readable DICOM file: ${oneLine(e)}` };
      throw e;
    }
  }
}
