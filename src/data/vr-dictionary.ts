/**
 * VR lookup for Implicit VR data sets (PS3.5 §7.1.3: the VR comes from the PS3.6 data dictionary).
 * Multi-valued dictionary VRs are resolved as DCMTK does when it reads Implicit VR Little Endian:
 * OB/OW → OW, US/SS → US (SS for signed pixel data), pointers → UL; private tags are looked up by their
 * private creator in DCMTK's private dictionary; unknown tags are 'UN' (an "unknown VR").
 */
import { VR_BY_TAG, VR_RANGES, PRIVATE_VR } from './vr-dictionary-data.js';

let exact: Map<number, string> | null = null;
let ranges: Array<{ g0: number; g1: number; gStep: 'even' | 'odd' | 'all'; e0: number; e1: number; eStep: 'even' | 'odd' | 'all'; vr: string }> = [];

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
  for (const [vr, tags] of Object.entries(VR_BY_TAG)) for (const t of tags.split(' ')) exact.set(parseInt(t, 16) >>> 0, vr);
  ranges = VR_RANGES.map((r) => {
    const [g, e, vr] = r.split(',');
    const [g0, g1, gStep] = parseRange(g);
    const [e0, e1, eStep] = parseRange(e);
    return { g0, g1, gStep, e0, e1, eStep, vr };
  });
  return exact;
}

const stepOk = (v: number, step: 'even' | 'odd' | 'all'): boolean => step === 'all' || (step === 'even' ? (v & 1) === 0 : (v & 1) === 1);

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
    if (group >= r.g0 && group <= r.g1 && stepOk(group, r.gStep) && element >= r.e0 && element <= r.e1 && stepOk(element, r.eStep)) return r.vr;
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
      privateMap.set(c, entries.split(' ').map((x) => {
        const [g, e, vr] = x.split(':');
        const [a, b] = g.split('-o-');
        return { g0: parseInt(a, 16), g1: parseInt(b ?? a, 16), e: parseInt(e, 16), vr };
      }));
    }
  }
  const list = privateMap.get(creator);
  if (!list) return undefined;
  const group = tag >>> 16;
  const low = tag & 0xff;
  for (const x of list) if (group >= x.g0 && group <= x.g1 && low === x.e) return x.vr;
  return undefined;
}

/** Concrete VR for an element read from an Implicit VR data set. 'UN' means unknown. */
export function implicitVR(tag: number, signedPixels = false, creator?: string): string {
  const v = ((tag >>> 16) & 1) === 1 && (tag & 0xffff) >= 0x1000 ? privateVR(tag, creator) : dictionaryVR(tag);
  if (!v) return 'UN';
  switch (v) {
    case 'ox': case 'px': case 'lt': return 'OW';
    case 'xs': return signedPixels ? 'SS' : 'US';
    case 'up': return 'UL';
    case 'na': return 'UN';
    default: return v;
  }
}
