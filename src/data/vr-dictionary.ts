/**
 * VR lookup for Implicit VR data sets (PS3.5 §7.1.3: the VR comes from the PS3.6 data dictionary).
 * Multi-valued dictionary VRs are resolved as DCMTK does when it reads Implicit VR Little Endian:
 * OB/OW → OW, US/SS → US (SS for signed pixel data), pointers → UL; private tags are looked up by their
 * private creator in DCMTK's private dictionary; unknown tags are 'UN' (an "unknown VR").
 */
import { VR_BY_TAG, VR_RANGES, PRIVATE_VR } from './vr-dictionary-data.js';

let exact: Map<number, string> | null = null;
let ranges: Array<{
  g0: number;
  g1: number;
  gStep: 'even' | 'odd' | 'all';
  e0: number;
  e1: number;
  eStep: 'even' | 'odd' | 'all';
  vr: string;
}> = [];

function parseRange(s: string): [number, number, 'even' | 'odd' | 'all'] {
  const m = /^([0-9A-F]{4})(?:-(o-|u-)?([0-9A-F]{4}))?$/.exec(s);
  if (!m) return [0, -1, 'all'];
  const a = parseInt(m[1], 16);
  const b = m[3] ? parseInt(m[3], 16) : a;
  const step = !m[3] ? 'all' : m[2] === 'o-' ? 'odd' : m[2] === 'u-' ? 'all' : 'even';
  return [a, b, step];
}

function load(): Map<number, string> {
  if (exact) return exact;
  exact = new Map();
  for (const [vr, tags] of Object.entries(VR_BY_TAG))
    for (const t of tags.split(' ')) exact.set(parseInt(t, 16) >>> 0, vr);
  ranges = VR_RANGES.map((r) => {
    const [g, e, vr] = r.split(',');
    const [g0, g1, gStep] = parseRange(g);
    const [e0, e1, eStep] = parseRange(e);
    return { g0, g1, gStep, e0, e1, eStep, vr };
  });
  return exact;
}

const stepOk = (v: number, step: 'even' | 'odd' | 'all'): boolean =>
  step === 'all' || (step === 'even' ? (v & 1) === 0 : (v & 1) === 1);

/** Raw dictionary VR (may be a DCMTK multi-VR marker), or undefined for unknown tags. */
export function dictionaryVR(tag: number): string | undefined {
  const group = tag >>> 16;
  const element = tag & 0xffff;
  if (element === 0) return 'UL'; // group length
  if ((group & 1) === 1 && element >= 0x0010 && element <= 0x00ff) return 'LO'; // private creator
  const m = load();
  const v = m.get(tag >>> 0);
  if (v) return v;
  for (const r of ranges) {
    if (
      group >= r.g0 &&
      group <= r.g1 &&
      stepOk(group, r.gStep) &&
      element >= r.e0 &&
      element <= r.e1 &&
      stepOk(element, r.eStep)
    )
      return r.vr;
  }
  return undefined;
}

let privateMap: Map<string, Array<{ g0: number; g1: number; e: number; vr: string }>> | null = null;

/** VR of a private data element from DCMTK's private dictionary, by private creator (PS3.5 §7.8.1). */
export function privateVR(tag: number, creator: string | undefined): string | undefined {
  if (!creator) return undefined;
  if (!privateMap) {
    privateMap = new Map();
    for (const [c, entries] of Object.entries(PRIVATE_VR)) {
      privateMap.set(
        c,
        entries.split(' ').map((x) => {
          const [g, e, vr] = x.split(':');
          const [a, b] = g.split('-o-');
          return { g0: parseInt(a, 16), g1: parseInt(b ?? a, 16), e: parseInt(e, 16), vr };
        }),
      );
    }
  }
  const list = privateMap.get(creator);
  if (!list) return undefined;
  const group = tag >>> 16;
  const low = tag & 0xff;
  for (const x of list) if (group >= x.g0 && group <= x.g1 && low === x.e) return x.vr;
  return undefined;
}

/**
 * Raw dictionary VR of an element read in Implicit VR: public tags from PS3.6, private tags (odd group,
 * element ≥ 1000H) from the private dictionary by their creator (PS3.5 §7.8.1). Undefined when unknown.
 */
export function rawImplicitVR(tag: number, creator?: string): string | undefined {
  return ((tag >>> 16) & 1) === 1 && (tag & 0xffff) >= 0x1000 ? privateVR(tag, creator) : dictionaryVR(tag);
}

/**
 * Tags whose "US or SS" VR DCMTK resolves from Pixel Representation (0028,0103) when it reads Implicit VR
 * (DcmItem::checkAndUpdateVR case 2, PS3.3 C.7.5.1, C.7.6.16, C.11.5). Any other 'xs' element — the Palette
 * Color Lookup Table Descriptors (0028,1101-1103), Mapped Pixel Value (0022,1452), ... — stays 'xs' and is
 * written as US (DcmVR::getValidEVR).
 */
export const PIXEL_REPRESENTATION_XS = new Set<number>([
  0x00280120, 0x00280121, 0x00603004, 0x00603006, 0x00189810, 0x00280106, 0x00280107, 0x00280108, 0x00280109,
  0x00283002, 0x00409211, 0x00409216,
]);
/**
 * Waveform attributes whose "OB or OW" VR follows Waveform Bits Allocated (5400,1004) (PS3.5 §8.3; checkAndUpdateVR
 * case 1).
 */
export const WAVEFORM_OX = new Set<number>([0x54001010, 0x5400100a, 0x54000110, 0x54000112]);

/**
 * What DCMTK knows about the item holding an Implicit VR element when it reads it: only the elements BEFORE it, in the
 * SAME item.
 */
export interface ImplicitItemContext {
  pixelRepresentation?: number;
  waveformBitsAllocated?: number;
}

/**
 * The VR DCMTK gives an element read from an Implicit VR data set — and so the VR it writes when it re-encodes
 * the element in an explicit VR MAC Calculation Transfer Syntax (dcmsign; PS3.15 C.1, PS3.3 C.12.1.1.3.1.1).
 * DcmItem::checkAndUpdateVR resolves a few multi-VR dictionary entries from an element read EARLIER IN THE SAME
 * ITEM (DcmItem::findAndGetUint16 does not search parents or sub-items); everything else falls back to
 * DcmVR::getValidEVR: xs → US, ox/px → OB, lt → OW, up → UL.
 *  - xs: SS/US by Pixel Representation for PIXEL_REPRESENTATION_XS, else US (so a palette descriptor is US
 *    even with signed pixels, and a LUT Descriptor inside a Modality/VOI LUT Sequence item is US whatever the
 *    top-level Pixel Representation says);
 *  - ox: OB/OW by Waveform Bits Allocated for WAVEFORM_OX; OW for Overlay Data (60xx,3000) and Pixel Data;
 *    OB otherwise (Curve Data (50xx,3000), Variable Pixel Data, Dark Current Counts, private 'ox');
 *  - px (Pixel Data): OW (native pixel data; encapsulated pixel data cannot occur in Implicit VR).
 * Unknown tags give 'UN'.
 */
export function signatureVR(tag: number, raw: string | undefined, ctx: ImplicitItemContext): string {
  if (!raw) return 'UN';
  switch (raw) {
    case 'xs':
      if (PIXEL_REPRESENTATION_XS.has(tag) && ctx.pixelRepresentation !== undefined)
        return ctx.pixelRepresentation === 1 ? 'SS' : 'US';
      return 'US';
    case 'ox': {
      if (WAVEFORM_OX.has(tag) && ctx.waveformBitsAllocated !== undefined)
        return ctx.waveformBitsAllocated === 8 ? 'OB' : 'OW';
      const g = tag >>> 16;
      if (tag === 0x7fe00010 || ((g & 0xff00) === 0x6000 && (g & 1) === 0 && (tag & 0xffff) === 0x3000)) return 'OW';
      return 'OB';
    }
    case 'px':
      return 'OW';
    case 'lt':
      return 'OW';
    case 'up':
      return 'UL';
    case 'na':
      return 'UN';
    default:
      return raw;
  }
}

/** Concrete VR for an element read from an Implicit VR data set. 'UN' means unknown. */
export function implicitVR(tag: number, signedPixels = false, creator?: string): string {
  const v = rawImplicitVR(tag, creator);
  if (!v) return 'UN';
  switch (v) {
    case 'ox':
    case 'px':
    case 'lt':
      return 'OW';
    case 'xs':
      return signedPixels ? 'SS' : 'US';
    case 'up':
      return 'UL';
    case 'na':
      return 'UN';
    default:
      return v;
  }
}
