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
    if (m === 0xff) { i++; continue; } // fill byte
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
    const len = (d[i + 2] << 8) | d[i + 3];
    if (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      if (i + 10 > d.length) return null;
      const kind = m & 0x0f;
      const process: JpegFrameHeader['process'] =
        kind >= 8 ? 'arithmetic' : kind >= 5 ? 'hierarchical' : kind === 3 ? 'lossless' : kind === 2 ? 'progressive' : kind === 1 ? 'extended' : 'baseline';
      return { marker: m, process, precision: d[i + 4], height: (d[i + 5] << 8) | d[i + 6], width: (d[i + 7] << 8) | d[i + 8], components: d[i + 9] };
    }
    if (m === 0xda || m === 0xd9) return null;
    i += 2 + len;
  }
  return null;
}
