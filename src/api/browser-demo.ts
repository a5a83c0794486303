/**
 * The server side of the dashboard's in-browser attack demo (issue 23, view 7). The attack itself runs
 * in the page (TensorFlow.js); the server only hands out read-only material:
 *  - the shipped default model's files (tfjs-layers `model.json`, weight shards, card) — the page checks
 *    the weights' sha256 against the card before it uses them;
 *  - the shipped PneumoniaMNIST test films (data/pneumoniamnist.npz, split `test`) as 8-bit PNGs,
 *    each carrying a "scanner" signature: a detached JWS in an `mdSG` chunk (src/provenance/image-signature.ts);
 *  - verification of a film's signature over its original bytes, and over tampered pixels the page
 *    sends back: the attacker's file is the tampered PNG with the original signature chunk transplanted
 *    (src/provenance/tamper-demo.ts), exactly what `medshield demo`'s tamper stage builds.
 *
 * The scanner is a throw-away test CA + ECDSA P-256 signer generated in memory when the demo opens
 * (nothing written, no key leaves the process). It signs the shipped films only — never a byte a client
 * sends — so the endpoint cannot be used as a signing oracle.
 * References: Amit et al.'s recommendation on medical imaging AI (harden the system around the model: sign at
 * acquisition, verify at the model's door); RFC 7515 + RFC 7797 (detached JWS with unencoded payload).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadDataset, type Split } from '../data/dataset.js';
import { encodePng } from '../data/png-encode.js';
import { badArgument, notFound } from '../errors.js';
import { loadSigner, pemCertificates, type SignerCredentials } from '../provenance/certificates.js';
import { signImage, verifyImage } from '../provenance/image-signature.js';
import { transplantSignature } from '../provenance/tamper-demo.js';
import { createTestCa, issueCertificate } from '../provenance/test-pki.js';
import { defaultModelDir, modelWeightFiles } from '../models/io.js';

export interface DemoFilm {
  index: number;
  label: number;
  className: string;
}

export interface DemoVerification {
  /** 'original' (the signed film as served) or 'tampered' (the page's pixels under the original signature). */
  file: 'original' | 'tampered';
  valid: boolean;
  reason: string;
  signer: string;
  /** sha256 of the verified file's bytes. */
  sha256: string;
  /** sha256 of the bytes the signature was made over (the original film, without the signature chunk). */
  signedSha256: string;
}

export interface Demo {
  readonly classes: string[];
  readonly height: number;
  readonly width: number;
  readonly dataset: { name: string; split: 'test'; sha256: string };
  readonly scanner: string;
  films(): DemoFilm[];
  /** The film as a signed 8-bit PNG (signed once, then cached). */
  signedPng(index: number): Buffer;
  /**
   * Verify the film's signature over its original bytes, or over `pixels` (H×W uint8) with the signature transplanted.
   */
  verify(index: number, pixels?: Uint8Array): Promise<DemoVerification>;
  /** Path of a file of the default model the page may fetch (model.json, model-card.json, weight shards), else null. */
  modelFile(name: string): string | null;
}

/** Open the demo: load the test split of the shipped PneumoniaMNIST, make the throw-away scanner. */
export async function openDemo(): Promise<Demo> {
  const data = await loadDataset('pneumoniamnist');
  const test: Split = data.splits.test;
  if (test.channels !== 1) throw badArgument('the demo expects grey-level films');
  const ca = await createTestCa('CN=medshield dashboard demo CA (throw-away),O=medshield');
  const issued = await issueCertificate(ca, { keyType: 'ec', subject: 'CN=demo scanner,O=medshield' });
  const signer: SignerCredentials = loadSigner(issued.keyPem, issued.certPem);
  const policy = { trust: pemCertificates(ca.certPem, 'CA certificate'), requireSignature: true };
  const d = test.height * test.width;
  const cache = new Map<number, { plain: Buffer; signed: Buffer }>();
  const check = (i: number): void => {
    if (!Number.isInteger(i) || i < 0 || i >= test.n) throw notFound(`no test film ${i} (0..${test.n - 1})`);
  };
  const film = (i: number): { plain: Buffer; signed: Buffer } => {
    check(i);
    let f = cache.get(i);
    if (!f) {
      const px = test.images.subarray(i * d, (i + 1) * d);
      const x = test.images instanceof Uint8Array ? Float32Array.from(px, (v) => v / 255) : Float32Array.from(px);
      const plain = encodePng(x, test.height, test.width, 1);
      f = { plain, signed: signImage(plain, signer).bytes };
      cache.set(i, f);
    }
    return f;
  };
  const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
  const dir = defaultModelDir();
  const allowed = new Set(['model.json', 'model-card.json', ...modelWeightFiles(dir).map((f) => path.basename(f))]);
  const classes = data.info.classes;
  return {
    classes,
    height: test.height,
    width: test.width,
    dataset: { name: data.name, split: 'test', sha256: data.sha256 },
    scanner: signer.cert.subject.split('\n').join(', '),
    films: () =>
      Array.from({ length: test.n }, (_, i) => ({
        index: i,
        label: test.labels[i * test.labelWidth],
        className: classes[test.labels[i * test.labelWidth]],
      })),
    signedPng: (i) => film(i).signed,
    async verify(i, pixels) {
      const f = film(i);
      let bytes = f.signed;
      if (pixels) {
        if (pixels.length !== d)
          throw badArgument(
            `tampered film must have ${d} pixels (${test.height}×${test.width} grey levels), got ${pixels.length}`,
          );
        const tampered = encodePng(
          Float32Array.from(pixels, (v) => v / 255),
          test.height,
          test.width,
          1,
        );
        bytes = transplantSignature(f.signed, tampered);
      }
      const r = await verifyImage(bytes, policy);
      const s = r.signatures[0];
      return {
        file: pixels ? 'tampered' : 'original',
        valid: r.valid,
        reason: r.valid ? 'signature valid' : s?.reason || r.reason,
        signer: s?.signer ?? '',
        sha256: sha(bytes),
        signedSha256: sha(f.plain),
      };
    },
    modelFile: (name) => (allowed.has(name) ? path.join(dir, name) : null),
  };
}

/** Read a model file named by {@link Demo.modelFile} (null when the name is not one of them). */
export function readDemoModelFile(demo: Demo, name: string): Buffer | null {
  const p = demo.modelFile(name);
  return p ? readFileSync(p) : null;
}
