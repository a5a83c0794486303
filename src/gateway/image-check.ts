/**
 * Verify-before-infer: apply the configured signature policy (DICOM PS3.15 digital signatures, checked
 * by src/provenance) to a request body, say whether the model may see it, and decode it — from the very
 * parse result that was verified (one parser, parsed once per request: issue 20). The Content-Type
 * decides the format; nothing is sniffed: an application/dicom body is decoded only as DICOM, a PNG or
 * JPEG body only as PNG or JPEG. Under a policy that requires a signature, the decoder's recorded reads
 * (data/dicom.ts DicomView) must all be covered by a valid signature. PNG/JPEG carry no DICOM signature:
 * they pass only when the policy does not require one. The declared image size is capped
 * (inputs.maxPixels) before any pixel buffer is allocated.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { MedshieldError, oneLine } from '../errors.js';
import {
  inflatedView,
  pemCertificates,
  verifyParsed,
  isStrict,
  unsignedPixelDependency,
  type VerifyPolicy,
} from '../provenance/index.js';
import { parseDicom, findElement, stringValue, type ParsedDicom } from '../data/dicom-parse.js';
import { decodeParsedDicom } from '../data/dicom.js';
import { decodeImageAs } from '../data/image.js';
import { DEFAULT_MAX_PIXELS, ImageTooLargeError } from '../data/pixel-budget.js';
import type { DecodedImage } from '../data/decoded.js';
import { nowMs, type Stage, type StageTimes } from './timing.js';
import type { GatewayConfig, InputType } from './config.js';

export interface ImageCheck {
  valid: boolean;
  signed: boolean;
  signer: string | null;
  profile: string | null;
  reason: string;
  sopInstanceUid: string | null;
  sha256: string;
  /** The decoded image (only when valid and decodable): what the model will see. */
  image?: DecodedImage;
  /** Valid, but the image cannot be decoded: 413 when larger than inputs.maxPixels, else 400. */
  decodeError?: { status: 400 | 413; message: string };
  /** Milliseconds spent hashing, parsing, verifying and decoding (the latency breakdown of timing.ts). */
  timing?: StageTimes;
}

const SOP_INSTANCE_UID = 0x00080018;
const FORMAT: Record<InputType, 'dicom' | 'png' | 'jpeg'> = {
  'application/dicom': 'dicom',
  'image/png': 'png',
  'image/jpeg': 'jpeg',
};

export class ImageVerifier {
  private policy: VerifyPolicy;
  private maxPixels: number;
  constructor(
    private sig: GatewayConfig['signature'],
    inputs?: Partial<GatewayConfig['inputs']>,
  ) {
    const certs = (files: string[]) => files.flatMap((f) => pemCertificates(readFileSync(f, 'utf8'), f));
    this.policy = {
      trust: certs(sig.trustedCas),
      intermediates: certs(sig.intermediates),
      requireSignature: sig.required,
      requireProfile: sig.requireProfile ?? undefined,
      requirePixelCoverage: sig.requirePixelCoverage,
    };
    this.maxPixels = inputs?.maxPixels ?? DEFAULT_MAX_PIXELS;
  }

  get required(): boolean {
    return this.sig.required;
  }

  async check(body: Uint8Array, type: InputType): Promise<ImageCheck> {
    const timing: StageTimes = {};
    let t = nowMs();
    const lap = (stage: Stage): void => {
      const n = nowMs();
      timing[stage] = (timing[stage] ?? 0) + n - t;
      t = n;
    };
    const r = await this.checkTimed(body, type, lap);
    return { ...r, timing };
  }

  private async checkTimed(body: Uint8Array, type: InputType, lap: (s: Stage) => void): Promise<ImageCheck> {
    const sha256 = createHash('sha256').update(body).digest('hex');
    lap('hash');
    const base = { signed: false, signer: null, profile: null, sopInstanceUid: null, sha256 };
    const format = FORMAT[type];
    if (format === undefined)
      return { ...base, valid: false, reason: `Content-Type ${JSON.stringify(type)} is not an image type` };
    if (format !== 'dicom') {
      if (this.sig.required)
        return {
          ...base,
          valid: false,
          reason: `unsigned: ${type} carries no DICOM signature and the policy requires one`,
        };
      const ok: ImageCheck = { ...base, valid: true, reason: 'unsigned (allowed by policy)' };
      const r = await this.decode(ok, () => decodeImageAs(format, body, 'request body', { maxPixels: this.maxPixels }));
      lap('decode');
      return r;
    }
    let sopInstanceUid: string | null = null;
    let p: ParsedDicom;
    try {
      p = parseDicom(inflatedView(body)); // a deflated file: the inflated data set its signatures cover
      sopInstanceUid = stringValue(p, findElement(p.dataset, SOP_INSTANCE_UID))?.trim() || null;
      lap('parse');
    } catch (e) {
      if (e instanceof MedshieldError)
        return { ...base, valid: false, reason: `not a readable DICOM file: ${oneLine(e)}` };
      throw e;
    }
    try {
      const rep = await verifyParsed(p, this.policy);
      lap('verify');
      const main = rep.signatures.find((s) => s.location === 'dataset' && s.valid) ?? rep.signatures[0];
      const check: ImageCheck = {
        valid: rep.valid,
        signed: rep.signed,
        signer: main?.signer ?? null,
        profile: main ? main.profile : null,
        reason: rep.reason,
        sopInstanceUid,
        sha256,
      };
      if (!check.valid) return check;
      const decoded = await this.decode(check, async () => {
        const { image, used } = await decodeParsedDicom(p, 'request body', { maxPixels: this.maxPixels });
        // Defence in depth: every attribute the decoder actually read must be signed (verify.ts checked the list).
        const unsigned = isStrict(this.policy) ? unsignedPixelDependency(rep, used) : undefined;
        if (unsigned) throw Object.assign(new MedshieldError('MISMATCH', unsigned), { refuse: true });
        return image;
      });
      lap('decode');
      return decoded;
    } catch (e) {
      if (e instanceof MedshieldError)
        return { ...base, sopInstanceUid, valid: false, reason: `not a readable DICOM file: ${oneLine(e)}` };
      throw e;
    }
  }

  private async decode(check: ImageCheck, run: () => Promise<DecodedImage>): Promise<ImageCheck> {
    try {
      return { ...check, image: await run() };
    } catch (e) {
      if (!(e instanceof MedshieldError)) throw e;
      if ((e as { refuse?: boolean }).refuse) return { ...check, valid: false, reason: `refused: ${oneLine(e)}` };
      const status = e instanceof ImageTooLargeError ? 413 : 400;
      return { ...check, decodeError: { status, message: oneLine(e) } };
    }
  }
}
