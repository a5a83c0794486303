/**
 * JPEG marker scanning (ISO/IEC 10918-1 Annex B): find the frame header (SOFn, B.2.2) and report
 * sample precision, size, component count and coding process without decoding the scan.
 */

export interface JpegFrameHeader {
  marker: number;
  process: 'baseline' | 'extended' | 'progressive' | 'lossless' | 'arithmetic' | 'hierarchical';
  precision: number;
  height: number;
  width: number;
  components: number;
}

/** The first SOFn of a JPEG stream, or null if there is none before the data ends. */
export function jpegFrameHeader(d: Uint8Array): JpegFrameHeader | null {
  if (d.length < 4 || d[0] !== 0xff || d[1] !== 0xd8) return null;
  let i = 2;
  while (i + 4 <= d.length) {
    if (d[i] !== 0xff) return null;
    const m = d[i + 1];
    if (m === 0xff) {
      i++;
      continue;
    } // fill byte
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      i += 2;
      continue;
    }
    const len = (d[i + 2] << 8) | d[i + 3];
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (i + 10 > d.length) return null;
      const kind = m & 0x0f;
      const process: JpegFrameHeader['process'] =
        kind >= 8
          ? 'arithmetic'
          : kind >= 5
            ? 'hierarchical'
            : kind === 3
              ? 'lossless'
              : kind === 2
                ? 'progressive'
                : kind === 1
                  ? 'extended'
                  : 'baseline';
      return {
        marker: m,
        process,
        precision: d[i + 4],
        height: (d[i + 5] << 8) | d[i + 6],
        width: (d[i + 7] << 8) | d[i + 8],
        components: d[i + 9],
      };
    }
    if (m === 0xda || m === 0xd9) return null;
    i += 2 + len;
  }
  return null;
}

/** A JPEG-LS frame header (SOF55, marker FFF7; ITU-T T.87 §C.2.2): same layout as a JPEG SOF. */
export function jpegLsFrameHeader(d: Uint8Array): { height: number; width: number; components: number } | null {
  if (d.length < 4 || d[0] !== 0xff || d[1] !== 0xd8) return null;
  let i = 2;
  while (i + 4 <= d.length) {
    if (d[i] !== 0xff) return null;
    const m = d[i + 1];
    if (m === 0xff) {
      i++;
      continue;
    }
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
      i += 2;
      continue;
    }
    if (m === 0xf7)
      return i + 10 > d.length
        ? null
        : { height: (d[i + 5] << 8) | d[i + 6], width: (d[i + 7] << 8) | d[i + 8], components: d[i + 9] };
    if (m === 0xda || m === 0xd9) return null;
    i += 2 + ((d[i + 2] << 8) | d[i + 3]);
  }
  return null;
}

/**
 * The image size a JPEG 2000 codestream declares in its SIZ marker segment (ISO/IEC 15444-1 §A.5.1): SOC (FF4F)
 * then SIZ (FF51) with Xsiz, Ysiz, XOsiz, YOsiz and Csiz. A JP2 file (boxes) is searched for its codestream.
 */
export function jpeg2000Size(d: Uint8Array): { height: number; width: number; components: number } | null {
  let i = 0;
  if (!(d[0] === 0xff && d[1] === 0x4f)) {
    i = -1;
    for (let k = 0; k + 4 <= Math.min(d.length, 1 << 16); k++)
      if (d[k] === 0xff && d[k + 1] === 0x4f && d[k + 2] === 0xff && d[k + 3] === 0x51) {
        i = k;
        break;
      }
    if (i < 0) return null;
  }
  if (i + 42 > d.length || d[i + 2] !== 0xff || d[i + 3] !== 0x51) return null;
  const u32 = (o: number) => ((d[o] << 24) >>> 0) + (d[o + 1] << 16) + (d[o + 2] << 8) + d[o + 3];
  const s = i + 4; // Lsiz at s, Rsiz at s+2, Xsiz at s+4 …
  return {
    width: u32(s + 4) - u32(s + 12),
    height: u32(s + 8) - u32(s + 16),
    components: (d[s + 36] << 8) | d[s + 37],
  };
}
