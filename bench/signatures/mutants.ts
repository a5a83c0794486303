/**
 * Mutant and fuzz-input generators for the signature tamper and fuzz runs (bench/signatures and
 * test/provenance-fuzz.test.ts). Deterministic: everything takes a seed.
 *
 * Tamper classes (all inside the signed range unless marked `outside`):
 *   header-flip, pixel-flip, grey-level (±1 on one sample), perturbation (sign-noise of ±1 grey level on
 *   1 % of samples, the shape of an L∞ adversarial perturbation), element-remove, element-reorder,
 *   value-edit (an element's value rewritten, same length), signature-swap (another file's valid signature
 *   sequences spliced in), certificate-substitution (Certificate of Signer replaced by another valid
 *   certificate), signature-removal (the run's policy requires a signature), signature-flip (a byte of the
 *   Signature value), mac-list-edit (Data Elements Signed shortened to drop Pixel Data), preamble-edit
 *   (the 128-byte preamble is never signed, but the runs' strict policy refuses it non-zero: issue 20);
 *   outside: element-insert (a new, unsigned element — accepted but reported in unsignedElements).
 */
import {
  parseDicom,
  findElement,
  PIXEL_DATA,
  UNDEFINED,
  type DicomElement,
  type ParsedDicom,
} from '../../src/provenance/dicom-parse.js';
import { isSignable, sortedByTag } from '../../src/provenance/mac-encoding.js';
import { encodeElement, encodeString, writeU32 } from '../../src/provenance/dicom-encode.js';
import { TAG } from '../../src/provenance/sign.js';

/** mulberry32: a small seeded PRNG. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const pick = <T>(r: () => number, xs: T[]): T => xs[Math.floor(r() * xs.length)];
const int = (r: () => number, n: number): number => Math.floor(r() * n);

export interface Mutant {
  kind: string;
  bytes: Buffer;
  outside: boolean;
}

export const TAMPER_KINDS = [
  'header-flip',
  'pixel-flip',
  'grey-level',
  'perturbation',
  'element-remove',
  'element-reorder',
  'value-edit',
  'signature-swap',
  'certificate-substitution',
  'signature-removal',
  'signature-flip',
  'mac-list-edit',
  'element-insert',
  'preamble-edit',
] as const;
export type TamperKind = (typeof TAMPER_KINDS)[number];

function pixelRange(p: ParsedDicom): { start: number; end: number; sample: number; le: boolean } | null {
  const px = findElement(p.dataset, PIXEL_DATA);
  if (!px) return null;
  if (px.fragments) {
    const f = px.fragments.filter((x) => x.length > 0).pop();
    return f ? { start: f.valueOffset, end: f.valueOffset + f.length, sample: 1, le: true } : null;
  }
  const bits = 16;
  return px.length > 0
    ? {
        start: px.valueOffset,
        end: px.valueOffset + px.length,
        sample: px.vr === 'OW' || bits === 16 ? 2 : 1,
        le: px.littleEndian,
      }
    : null;
}

function splice(b: Uint8Array, at: number, remove: number, insert: Uint8Array = new Uint8Array(0)): Buffer {
  return Buffer.concat([b.subarray(0, at), insert, b.subarray(at + remove)]);
}

/** Replace an element of the first signature item by `replacement`, fixing the item and sequence lengths. */
function replaceInSignatureItem(
  p: ParsedDicom,
  tag: number,
  makeReplacement: (el: DicomElement) => Buffer,
): Buffer | null {
  const seq = findElement(p.dataset, TAG.DigitalSignaturesSequence);
  const item = seq?.items?.[0];
  const el = item ? findElement(item.elements, tag) : undefined;
  if (!seq || !item || !el) return null;
  const rep = makeReplacement(el);
  const delta = rep.length - (el.end - el.start);
  const out = Buffer.from(splice(p.bytes, el.start, el.end - el.start, rep));
  const le = p.ts.littleEndian;
  if (item.length !== UNDEFINED) writeU32(out, item.start + 4, item.length + delta, le);
  if (seq.length !== UNDEFINED) writeU32(out, seq.valueOffset - 4, seq.length + delta, le);
  return out;
}

/**
 * One tamper mutant of a signed file. `other` is another signed file (for signature swap) and
 * `otherCertDer` another valid certificate (for certificate substitution).
 */
export function tamper(
  signed: Buffer,
  kind: TamperKind,
  r: () => number,
  other: Buffer,
  otherCertDer: Uint8Array,
): Mutant | null {
  const p = parseDicom(signed);
  const enc = { explicitVR: p.ts.explicitVR, littleEndian: p.ts.littleEndian };
  const covered = sortedByTag(p.dataset).filter((e) => isSignable(e) && e.tag !== PIXEL_DATA);
  const b = Buffer.from(signed);
  const px = pixelRange(p);
  switch (kind) {
    case 'header-flip': {
      const e = pick(r, covered);
      const at = e.start + int(r, Math.max(1, Math.min(e.end, e.start + 64) - e.start));
      b[at] ^= 1 << int(r, 8);
      return { kind, bytes: b, outside: false };
    }
    case 'pixel-flip': {
      if (!px) return null;
      b[px.start + int(r, px.end - px.start)] ^= 1 << int(r, 8);
      return { kind, bytes: b, outside: false };
    }
    case 'grey-level': {
      if (!px) return null;
      const i = px.start + int(r, Math.floor((px.end - px.start) / px.sample)) * px.sample;
      const lo = px.sample === 2 && !px.le ? i + 1 : i;
      b[lo] = (b[lo] + (r() < 0.5 ? 1 : 255)) & 0xff;
      return { kind, bytes: b, outside: false };
    }
    case 'perturbation': {
      if (!px) return null;
      const n = Math.max(1, Math.floor((px.end - px.start) / px.sample / 100));
      for (let k = 0; k < n; k++) {
        const i = px.start + int(r, Math.floor((px.end - px.start) / px.sample)) * px.sample;
        const lo = px.sample === 2 && !px.le ? i + 1 : i;
        b[lo] = (b[lo] + (r() < 0.5 ? 1 : 255)) & 0xff;
      }
      return { kind, bytes: b, outside: false };
    }
    case 'element-remove': {
      const e = pick(r, covered);
      return { kind, bytes: splice(b, e.start, e.end - e.start), outside: false };
    }
    case 'element-reorder': {
      const i = int(r, covered.length - 1);
      const [a, c] = [covered[i], covered[i + 1]];
      if (!a || !c || a.end !== c.start) return null;
      return {
        kind,
        bytes: Buffer.concat([
          b.subarray(0, a.start),
          b.subarray(c.start, c.end),
          b.subarray(a.start, a.end),
          b.subarray(c.end),
        ]),
        outside: false,
      };
    }
    case 'value-edit': {
      const e = pick(
        r,
        covered.filter((x) => !x.items && x.length > 0 && x.length !== UNDEFINED),
      );
      if (!e) return null;
      const at = e.valueOffset + int(r, e.length);
      b[at] = b[at] === 0x31 ? 0x32 : 0x31;
      return { kind, bytes: b, outside: false };
    }
    case 'signature-swap': {
      const q = parseDicom(other);
      const seqs = (x: ParsedDicom) => [
        findElement(x.dataset, TAG.MACParametersSequence),
        findElement(x.dataset, TAG.DigitalSignaturesSequence),
      ];
      const [myMac, mySig] = seqs(p);
      const [thMac, thSig] = seqs(q);
      if (!myMac || !mySig || !thMac || !thSig) return null;
      const s1 = splice(b, mySig.start, mySig.end - mySig.start, other.subarray(thSig.start, thSig.end));
      return {
        kind,
        bytes: splice(s1, myMac.start, myMac.end - myMac.start, other.subarray(thMac.start, thMac.end)),
        outside: false,
      };
    }
    case 'certificate-substitution': {
      const out = replaceInSignatureItem(p, TAG.CertificateOfSigner, () =>
        encodeElement(TAG.CertificateOfSigner, 'OB', otherCertDer, enc),
      );
      return out ? { kind, bytes: out, outside: false } : null;
    }
    case 'signature-removal': {
      const mac = findElement(p.dataset, TAG.MACParametersSequence);
      const sig = findElement(p.dataset, TAG.DigitalSignaturesSequence);
      if (!mac || !sig) return null;
      const noSig = splice(b, sig.start, sig.end - sig.start);
      return { kind, bytes: splice(noSig, mac.start, mac.end - mac.start), outside: false };
    }
    case 'signature-flip': {
      const out = replaceInSignatureItem(p, TAG.Signature, (el) => {
        const v = Buffer.from(p.bytes.subarray(el.valueOffset, el.end));
        v[int(r, v.length)] ^= 1 << int(r, 8);
        return Buffer.from(encodeElement(TAG.Signature, 'OB', v, enc));
      });
      return out ? { kind, bytes: out, outside: false } : null;
    }
    case 'mac-list-edit': {
      const mac = findElement(p.dataset, TAG.MACParametersSequence);
      const it = mac?.items?.[0];
      const at = it ? findElement(it.elements, TAG.DataElementsSigned) : undefined;
      if (!mac || !it || !at || at.length < 8) return null;
      // Drop the last listed tag (Pixel Data when present): same structure, shorter list.
      const newLen = at.length - 4;
      const rep = Buffer.concat([
        b.subarray(at.start, at.valueOffset),
        b.subarray(at.valueOffset, at.valueOffset + newLen),
      ]);
      if (enc.explicitVR) {
        if (enc.littleEndian) rep.writeUInt16LE(newLen, 6);
        else rep.writeUInt16BE(newLen, 6);
      } else if (enc.littleEndian) rep.writeUInt32LE(newLen, 4);
      else rep.writeUInt32BE(newLen, 4);
      const out = Buffer.from(splice(b, at.start, at.end - at.start, rep));
      if (it.length !== UNDEFINED) writeU32(out, it.start + 4, it.length - 4, enc.littleEndian);
      if (mac.length !== UNDEFINED) writeU32(out, mac.valueOffset - 4, mac.length - 4, enc.littleEndian);
      return { kind, bytes: out, outside: false };
    }
    case 'element-insert': {
      // (0029,xx10)-free public tag unlikely to be present: Patient Comments (0010,4000).
      if (findElement(p.dataset, 0x00104000)) return null;
      const el = encodeString(0x00104000, 'LT', 'inserted after signing', enc);
      const next = p.dataset.find((e) => e.tag > 0x00104000);
      return { kind, bytes: splice(b, next ? next.start : b.length, 0, el), outside: true };
    }
    case 'preamble-edit': {
      if (!p.hasPreamble) return null;
      b[int(r, 128)] ^= 0xff;
      // Unsigned, but a policy that requires a signature refuses a non-zero preamble (issue 20, polyglots).
      return { kind, bytes: b, outside: false };
    }
  }
}

export const FUZZ_KINDS = [
  'truncate',
  'length-corrupt',
  'huge-length',
  'odd-vr',
  'deep-nesting',
  'byte-noise',
  'splice-junk',
] as const;
export type FuzzKind = (typeof FUZZ_KINDS)[number];

function elementHeaders(p: ParsedDicom): DicomElement[] {
  const out: DicomElement[] = [];
  const walk = (els: DicomElement[]) => {
    for (const e of els) {
      out.push(e);
      e.items?.forEach((it) => walk(it.elements));
    }
  };
  walk(p.dataset);
  return out;
}

/** One fuzz input derived from a (signed) file. */
export function fuzz(seedFile: Buffer, parsed: ParsedDicom, kind: FuzzKind, r: () => number): Buffer {
  const b = Buffer.from(seedFile);
  const els = elementHeaders(parsed);
  const lenField = (e: DicomElement): [number, number] =>
    e.valueOffset - e.start === 12 ? [e.valueOffset - 4, 4] : e.explicitVR ? [e.start + 6, 2] : [e.start + 4, 4];
  switch (kind) {
    case 'truncate':
      return b.subarray(0, int(r, b.length));
    case 'length-corrupt': {
      for (let k = 0, n = 1 + int(r, 3); k < n; k++) {
        const e = pick(r, els);
        const [off, size] = lenField(e);
        if (size === 2) b.writeUInt16LE(int(r, 0x10000), off);
        else b.writeUInt32LE(int(r, 0x100000000), off);
      }
      return b;
    }
    case 'huge-length': {
      const e = pick(r, els);
      const [off, size] = lenField(e);
      if (size === 2) b.writeUInt16LE(0xfffe, off);
      else b.writeUInt32LE(pick(r, [0xfffffff0, 0x7fffffff, 0xfffffffe, b.length * 4]), off);
      return b;
    }
    case 'odd-vr': {
      const e = pick(
        r,
        els.filter((x) => x.explicitVR),
      );
      if (!e) return b.subarray(0, int(r, b.length));
      const vrs = ['??', 'ZZ', 'SQ', 'UN', 'OB', 'US', 'ox', '\0\0', 'XS', 'UT'];
      b.write(pick(r, vrs), e.start + 4, 'latin1');
      return b;
    }
    case 'deep-nesting': {
      // A data set of one sequence nested `depth` times: (0008,1115) SQ > item > (0008,1115) SQ > …
      const depth = 1 + int(r, 5000);
      const le = true;
      const parts: Buffer[] = [];
      for (let i = 0; i < depth; i++)
        parts.push(
          Buffer.from([
            0x08, 0x00, 0x15, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xfe, 0xff, 0x00, 0xe0, 0xff, 0xff, 0xff,
            0xff,
          ]),
        );
      for (let i = 0; i < depth; i++)
        parts.push(Buffer.from([0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0, 0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0]));
      void le;
      const head = b.subarray(0, parsed.datasetStart);
      return Buffer.concat([
        head,
        Buffer.from([0x08, 0x00, 0x05, 0x00, 0x43, 0x53, 0x0a, 0x00]),
        Buffer.from('ISO_IR 100'),
        ...parts,
      ]);
    }
    case 'byte-noise': {
      for (let k = 0, n = 1 + int(r, 32); k < n; k++) b[int(r, b.length)] = int(r, 256);
      return b;
    }
    case 'splice-junk': {
      const at = int(r, b.length);
      const junk = Buffer.alloc(1 + int(r, 64));
      for (let i = 0; i < junk.length; i++) junk[i] = int(r, 256);
      return Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]);
    }
  }
}
