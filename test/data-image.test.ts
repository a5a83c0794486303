/**
 * PNG / JPEG decoding, format sniffing and resizing. The PNG and JPEG files are made at test time
 * from real pixels (DICOM images in ../shared/data/dicom) with the pngjs / jpeg-js encoders, so the
 * expected values are known exactly (lossless PNG) or within JPEG's loss.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { PACKAGE_ROOT } from '../src/version.js';
import { MedshieldError } from '../src/errors.js';
import { decodeImage, sniffImageFormat, type DecodedImage } from '../src/data/image.js';
import { readDicomFrame } from '../src/data/dicom.js';
import { toModelInput } from '../src/data/resize.js';

const DIR = path.join(PACKAGE_ROOT, '..', 'shared', 'data', 'dicom');
const dicomBytes = (f: string): Uint8Array => new Uint8Array(readFileSync(path.join(DIR, f)));
const dicom = async (f: string): Promise<DecodedImage> => decodeImage(dicomBytes(f), f);

/** An 8-bit grey image (values 0..255) from a real DICOM's display pixels. */
async function grey8(f: string): Promise<{ w: number; h: number; v: Uint8Array }> {
  const img = await dicom(f);
  assert.equal(img.channels, 1);
  return { w: img.width, h: img.height, v: Uint8Array.from(img.data, (x) => Math.round(x * 255)) };
}

function writePng(w: number, h: number, data: Buffer, colorType: 0 | 2 | 4 | 6, bitDepth: 8 | 16): Uint8Array {
  const png = new PNG({ width: w, height: h });
  png.data = data;
  return new Uint8Array(
    PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: (colorType & 4) !== 0, bitDepth }),
  );
}

/** CRC-32 (ISO 3309, as PNG §5.5 requires) for hand-built chunks. */
function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, body: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.write(type, 4, 'latin1');
  out.set(body, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + body.length)), 8 + body.length);
  return out;
}

/** An 8-bit indexed-colour PNG (colour type 3) whose palette maps index i to grey level i. */
function palettePng(w: number, h: number, idx: Uint8Array): Uint8Array {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 3;
  const plte = Buffer.alloc(256 * 3);
  for (let i = 0; i < 256; i++) plte[3 * i] = plte[3 * i + 1] = plte[3 * i + 2] = i;
  const raw = Buffer.alloc(h * (w + 1));
  for (let y = 0; y < h; y++) raw.set(idx.subarray(y * w, (y + 1) * w), y * (w + 1) + 1); // filter type 0
  const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return new Uint8Array(
    Buffer.concat([
      sig,
      chunk('IHDR', ihdr),
      chunk('PLTE', plte),
      chunk('IDAT', deflateSync(raw)),
      chunk('IEND', new Uint8Array(0)),
    ]),
  );
}

async function rejectsBadInput(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MedshieldError, String(e));
    assert.ok(e.code === 'BAD_INPUT' || e.code === 'UNSUPPORTED', e.code);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'));
    return true;
  });
}

test('8-bit grey PNG made from a real MR slice decodes exactly', async () => {
  const { w, h, v } = await grey8('MR_small.dcm');
  const img = await decodeImage(writePng(w, h, Buffer.from(v), 0, 8), 'mr.png');
  assert.deepEqual(
    [img.width, img.height, img.channels, img.source.format, img.source.bitDepth],
    [64, 64, 1, 'png', 8],
  );
  assert.deepEqual(
    Array.from(img.data, (x) => Math.round(x * 255)),
    Array.from(v),
  );
});

test('16-bit grey PNG keeps all 16 bits of a real CT slice', async () => {
  const ct = await readDicomFrame(dicomBytes('CT_small.dcm'), 'CT_small');
  const u16 = Uint16Array.from(ct.stored, (s) => s + 1024); // stored values −896…1167 → unsigned
  const img = await decodeImage(writePng(128, 128, Buffer.from(u16.buffer), 0, 16), 'ct16.png');
  assert.deepEqual([img.width, img.height, img.channels, img.source.bitDepth], [128, 128, 1, 16]);
  assert.deepEqual(
    Array.from(img.data, (x) => Math.round(x * 65535)),
    Array.from(u16),
  );
});

test('RGB and RGBA PNGs (8 and 16 bit) made from a real ultrasound image', async () => {
  const us = await dicom('ExplVR_BigEnd.dcm');
  const rgb8 = Uint8Array.from(us.data, (x) => Math.round(x * 255));
  const a = await decodeImage(writePng(us.width, us.height, Buffer.from(rgb8), 2, 8), 'us.png');
  assert.deepEqual([a.channels, a.source.colour], [3, 'truecolour']);
  assert.deepEqual(
    Array.from(a.data, (x) => Math.round(x * 255)),
    Array.from(rgb8),
  );

  const rgba = Buffer.alloc(us.width * us.height * 4);
  for (let p = 0; p < us.width * us.height; p++) {
    rgba.set(rgb8.subarray(3 * p, 3 * p + 3), 4 * p);
    rgba[4 * p + 3] = 200;
  }
  const b = await decodeImage(writePng(us.width, us.height, rgba, 6, 8), 'us-alpha.png');
  assert.equal(b.channels, 3);
  assert.equal(b.source.alphaDropped, true);
  assert.deepEqual(b.data, a.data);

  const rgb16 = Uint16Array.from(rgb8, (x) => x * 257);
  const c = await decodeImage(writePng(us.width, us.height, Buffer.from(rgb16.buffer), 2, 16), 'us16.png');
  assert.equal(c.source.bitDepth, 16);
  for (let i = 0; i < c.data.length; i++) assert.ok(Math.abs(c.data[i] - a.data[i]) < 1e-6);
});

test('indexed-colour (palette) PNG decodes through its palette', async () => {
  const { w, h, v } = await grey8('CR1_6154.dcm');
  const img = await decodeImage(palettePng(w, h, v), 'cr.png');
  assert.deepEqual([img.channels, img.source.colour], [3, 'indexed-colour']);
  for (let p = 0; p < w * h; p++) for (let k = 0; k < 3; k++) assert.equal(Math.round(img.data[3 * p + k] * 255), v[p]);
});

test('JPEG made from a real CT slice decodes within JPEG loss; grey content converts back to one channel', async () => {
  const { w, h, v } = await grey8('CT-MONO2-16-ankle.dcm');
  const rgba = Buffer.alloc(w * h * 4);
  for (let p = 0; p < w * h; p++) {
    rgba[4 * p] = rgba[4 * p + 1] = rgba[4 * p + 2] = v[p];
    rgba[4 * p + 3] = 255;
  }
  const bytes = new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 95).data);
  const img = await decodeImage(bytes, 'ankle.jpg');
  assert.deepEqual([img.width, img.height, img.channels, img.source.format], [512, 512, 3, 'jpeg']);
  const grey = toModelInput(img, [512, 512, 1]);
  let err = 0;
  for (let p = 0; p < w * h; p++) err += Math.abs(grey[p] * 255 - v[p]);
  assert.ok(err / (w * h) < 2, `mean |error| ${(err / (w * h)).toFixed(3)} grey levels`);
});

test('a 12-bit greyscale JPEG stream lifted out of a DICOM file decodes to the DICOM pixels', async () => {
  const dcm = dicomBytes('JPGExtended.dcm');
  const soi = dcm.findIndex((b, i) => b === 0xff && dcm[i + 1] === 0xd8 && dcm[i + 2] === 0xff);
  const eoi = dcm.length - 1 - [...dcm].reverse().findIndex((b, i, r) => b === 0xd9 && r[i + 1] === 0xff);
  const img = await decodeImage(dcm.subarray(soi, eoi + 1), 'nm.jpg');
  assert.deepEqual([img.width, img.height, img.channels, img.source.bitDepth], [256, 1024, 1, 12]);
  const ref = await readDicomFrame(dcm, 'JPGExtended.dcm');
  for (let i = 0; i < ref.stored.length; i += 101) assert.equal(Math.round(img.data[i] * 4095), ref.stored[i]);
});

test('format is sniffed from magic bytes, not the name', async () => {
  const { w, h, v } = await grey8('MR_small.dcm');
  const png = writePng(w, h, Buffer.from(v), 0, 8);
  assert.equal(sniffImageFormat(png), 'png');
  assert.equal(sniffImageFormat(dicomBytes('CR-MONO1-10-chest.dcm')), 'dicom'); // no preamble
  assert.equal((await decodeImage(png, 'scan.dcm')).source.format, 'png');
  assert.equal((await decodeImage(dicomBytes('MR_small.dcm'), 'photo.jpg')).source.format, 'dicom');
});

test('non-image, empty and truncated files fail with one clear line', async () => {
  await rejectsBadInput(
    decodeImage(new Uint8Array(readFileSync(path.join(PACKAGE_ROOT, 'package.json'))), 'package.json'),
    /^package\.json: not a PNG, JPEG or DICOM image$/,
  );
  await rejectsBadInput(decodeImage(new Uint8Array(0), 'empty.png'), /^empty\.png: not a PNG, JPEG or DICOM image$/);
  const { w, h, v } = await grey8('MR_small.dcm');
  const png = writePng(w, h, Buffer.from(v), 0, 8);
  for (const cut of [20, 60, png.length >> 1, png.length - 13]) {
    await rejectsBadInput(decodeImage(png.subarray(0, cut), 'cut.png'), /^cut\.png: truncated or corrupt PNG/);
  }
  const rgba = Buffer.alloc(w * h * 4, 255);
  for (let p = 0; p < w * h; p++) rgba[4 * p] = rgba[4 * p + 1] = rgba[4 * p + 2] = v[p];
  const jpg = new Uint8Array(jpeg.encode({ width: w, height: h, data: rgba }, 90).data);
  for (const cut of [4, 300, jpg.length >> 1, jpg.length - 2]) {
    await rejectsBadInput(
      decodeImage(jpg.subarray(0, cut), 'cut.jpg'),
      /^cut\.jpg: (truncated or corrupt JPEG|not a PNG)/,
    );
  }
});

function mean(a: Float32Array): number {
  let s = 0;
  for (const x of a) s += x;
  return s / a.length;
}

test('toModelInput: identity when sizes and channels match', async () => {
  const img = await dicom('CT-MONO2-16-ankle.dcm');
  const out = toModelInput(img, [512, 512, 1]);
  assert.deepEqual(out, img.data);
  assert.notEqual(out, img.data); // a copy, not the decoder's buffer
});

test('toModelInput: 512→28 area averaging preserves mean intensity; 512→64 equals 8×8 block means', async () => {
  const img = await dicom('CT-MONO2-16-ankle.dcm');
  const small = toModelInput(img, [28, 28, 1]);
  assert.equal(small.length, 28 * 28);
  assert.ok(Math.abs(mean(small) - mean(img.data)) < 1e-4, `${mean(small)} vs ${mean(img.data)}`);
  const m64 = toModelInput(img, [64, 64, 1]);
  for (const [oy, ox] of [
    [0, 0],
    [20, 33],
    [40, 17],
    [63, 63],
  ]) {
    let s = 0;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) s += img.data[(oy * 8 + y) * 512 + ox * 8 + x];
    assert.ok(Math.abs(m64[oy * 64 + ox] - s / 64) < 1e-5);
  }
  // Antialiasing: the 28-px image is smoother than point sampling would be (its variance is lower).
  const sampled = Float32Array.from(
    { length: 28 * 28 },
    (_, i) =>
      img.data[Math.floor(((Math.floor(i / 28) + 0.5) * 512) / 28) * 512 + Math.floor((((i % 28) + 0.5) * 512) / 28)],
  );
  const variance = (a: Float32Array): number => {
    const m = mean(a);
    return a.reduce((s, x) => s + (x - m) ** 2, 0) / a.length;
  };
  assert.ok(variance(small) < variance(sampled));
});

test('toModelInput: bilinear upscaling 64→224 and channel conversion', async () => {
  const mr = await dicom('MR_small.dcm');
  const big = toModelInput(mr, [224, 224, 3]);
  assert.equal(big.length, 224 * 224 * 3);
  for (let p = 0; p < 224 * 224; p += 37) assert.ok(big[3 * p] === big[3 * p + 1] && big[3 * p] === big[3 * p + 2]);
  assert.ok(Math.abs(mean(big) - mean(mr.data)) < 0.01, `${mean(big)} vs ${mean(mr.data)}`);
  const us = await dicom('ExplVR_BigEnd.dcm');
  const grey = toModelInput(us, [us.height, us.width, 1]);
  for (let p = 0; p < us.width * us.height; p += 13) {
    const luma = 0.299 * us.data[3 * p] + 0.587 * us.data[3 * p + 1] + 0.114 * us.data[3 * p + 2];
    assert.ok(Math.abs(grey[p] - luma) < 1e-6);
  }
  assert.throws(
    () => toModelInput(us, [28, 28, 2]),
    (e: unknown) => e instanceof MedshieldError && e.code === 'BAD_ARGUMENT',
  );
  assert.throws(
    () => toModelInput(us, [0, 28, 1]),
    (e: unknown) => e instanceof MedshieldError && e.code === 'BAD_ARGUMENT',
  );
});

/* ---- DICOM colour paths not covered by the shared files, on DICOM files written here from real pixels ---- */

/** One explicit-VR little-endian element (PS3.5 §7.1.2). */
function element(group: number, elem: number, vr: string, value: Uint8Array): Buffer {
  const long = ['OB', 'OW', 'SQ', 'UN', 'UT'].includes(vr);
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(elem, 2);
  head.write(vr, 4, 'latin1');
  if (long) head.writeUInt32LE(value.length, 8);
  else head.writeUInt16LE(value.length, 6);
  return Buffer.concat([head, Buffer.from(value)]);
}
const ui = (s: string): Buffer => Buffer.from(s.length % 2 ? s + '\0' : s, 'latin1');
const cs = (s: string): Buffer => Buffer.from(s.length % 2 ? s + ' ' : s, 'latin1');
const u16 = (...v: number[]): Buffer => {
  const b = Buffer.alloc(2 * v.length);
  v.forEach((x, i) => b.writeUInt16LE(x, 2 * i));
  return b;
};

/** A minimal Secondary Capture Part 10 file: image pixel module attributes plus Pixel Data. */
function writeDicom(
  ts: string,
  rows: number,
  cols: number,
  photometric: string,
  extra: Buffer[],
  pixelData: Buffer,
): Uint8Array {
  const meta = Buffer.concat([
    element(2, 1, 'OB', Uint8Array.from([0, 1])),
    element(2, 2, 'UI', ui('1.2.840.10008.5.1.4.1.1.7')),
    element(2, 3, 'UI', ui('1.2.826.0.1.3680043.2.1125.1')),
    element(2, 0x10, 'UI', ui(ts)),
  ]);
  const spp = photometric === 'PALETTE COLOR' || photometric.startsWith('MONO') ? 1 : 3;
  const ds = Buffer.concat([
    element(0x28, 0x02, 'US', u16(spp)),
    element(0x28, 0x04, 'CS', cs(photometric)),
    ...(spp === 3 ? [element(0x28, 0x06, 'US', u16(0))] : []),
    element(0x28, 0x10, 'US', u16(rows)),
    element(0x28, 0x11, 'US', u16(cols)),
    element(0x28, 0x100, 'US', u16(8)),
    element(0x28, 0x101, 'US', u16(8)),
    element(0x28, 0x102, 'US', u16(7)),
    element(0x28, 0x103, 'US', u16(0)),
    ...extra,
    pixelData,
  ]);
  const groupLength = element(2, 0, 'UL', Uint8Array.from([meta.length & 0xff, (meta.length >> 8) & 0xff, 0, 0]));
  return new Uint8Array(Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), groupLength, meta, ds]));
}

/** Encapsulated Pixel Data (PS3.5 §A.4): undefined length, empty Basic Offset Table, one fragment. */
function encapsulated(fragment: Uint8Array): Buffer {
  const item = (b: Uint8Array): Buffer => {
    const h = Buffer.alloc(8);
    h.writeUInt16LE(0xfffe, 0);
    h.writeUInt16LE(0xe000, 2);
    h.writeUInt32LE(b.length, 4);
    return Buffer.concat([h, Buffer.from(b)]);
  };
  const head = Buffer.alloc(12);
  head.writeUInt16LE(0x7fe0, 0);
  head.writeUInt16LE(0x10, 2);
  head.write('OB', 4, 'latin1');
  head.writeUInt32LE(0xffffffff, 8);
  const end = Buffer.alloc(8);
  end.writeUInt16LE(0xfffe, 0);
  end.writeUInt16LE(0xe0dd, 2);
  const even = fragment.length % 2 ? Uint8Array.from([...fragment, 0]) : fragment;
  return Buffer.concat([head, item(new Uint8Array(0)), item(even), end]);
}

function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

/** Full-range BT.601 RGB → YCbCr (PS3.3 C.7.6.3.1.2), 8 bit. */
function toYbr(r: number, g: number, b: number): [number, number, number] {
  const c = (v: number): number => Math.min(255, Math.max(0, Math.round(v)));
  return [
    c(0.299 * r + 0.587 * g + 0.114 * b),
    c(-0.168736 * r - 0.331264 * g + 0.5 * b + 128),
    c(0.5 * r - 0.418688 * g - 0.081312 * b + 128),
  ];
}

test('DICOM JPEG baseline YBR_FULL_422 (libjpeg-turbo) from a real ultrasound image', async () => {
  const us = await dicom('ExplVR_BigEnd.dcm');
  const n = us.width * us.height;
  const rgba = Buffer.alloc(n * 4, 255);
  for (let p = 0; p < n; p++) for (let k = 0; k < 3; k++) rgba[4 * p + k] = Math.round(us.data[3 * p + k] * 255);
  const stream = new Uint8Array(jpeg.encode({ width: us.width, height: us.height, data: rgba }, 95).data);
  const file = writeDicom('1.2.840.10008.1.2.4.50', us.height, us.width, 'YBR_FULL_422', [], encapsulated(stream));
  const img = await decodeImage(file, 'us-jpeg.dcm');
  assert.deepEqual(
    [img.width, img.height, img.channels, img.source.transferSyntaxName],
    [80, 60, 3, 'JPEG Baseline (Process 1)'],
  );
  assert.ok(meanAbsDiff(img.data, us.data) < 0.02, `mean |diff| ${meanAbsDiff(img.data, us.data)}`);
  const viaJpegJs = await decodeImage(stream, 'us.jpg');
  assert.ok(meanAbsDiff(img.data, viaJpegJs.data) < 0.01);
});

test('DICOM native YBR_FULL and YBR_FULL_422 convert back to the original RGB', async () => {
  const us = await dicom('ExplVR_BigEnd.dcm');
  const n = us.width * us.height;
  const rgb = Uint8Array.from(us.data, (x) => Math.round(x * 255));
  const full = Buffer.alloc(n * 3);
  for (let p = 0; p < n; p++) full.set(toYbr(rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]), 3 * p);
  const a = await decodeImage(
    writeDicom('1.2.840.10008.1.2.1', us.height, us.width, 'YBR_FULL', [], element(0x7fe0, 0x10, 'OB', full)),
    'ybr.dcm',
  );
  assert.ok(
    meanAbsDiff(a.data, us.data) < 1.5 / 255,
    `YBR_FULL mean |diff| ${meanAbsDiff(a.data, us.data) * 255} grey levels`,
  );

  const sub = Buffer.alloc(n * 2); // Y1 Y2 Cb Cr, chroma averaged over each horizontal pair
  for (let g = 0; g < n / 2; g++) {
    const y1 = full[6 * g],
      y2 = full[6 * g + 3];
    sub.set(
      [
        y1,
        y2,
        Math.round((full[6 * g + 1] + full[6 * g + 4]) / 2),
        Math.round((full[6 * g + 2] + full[6 * g + 5]) / 2),
      ],
      4 * g,
    );
  }
  const b = await decodeImage(
    writeDicom('1.2.840.10008.1.2.1', us.height, us.width, 'YBR_FULL_422', [], element(0x7fe0, 0x10, 'OB', sub)),
    'ybr422.dcm',
  );
  const luma = (d: Float32Array): Float32Array =>
    Float32Array.from({ length: n }, (_, p) => 0.299 * d[3 * p] + 0.587 * d[3 * p + 1] + 0.114 * d[3 * p + 2]);
  assert.ok(meanAbsDiff(luma(b.data), luma(us.data)) < 1.5 / 255);
  assert.ok(meanAbsDiff(b.data, us.data) < 0.05);
});

test('DICOM PALETTE COLOR maps indices through the red/green/blue LUTs', async () => {
  const { w, h, v } = await grey8('MR_small.dcm');
  const lut = (f: (i: number) => number): Buffer => u16(...Array.from({ length: 256 }, (_, i) => f(i) * 257));
  const extra = [
    element(0x28, 0x1101, 'US', u16(256, 0, 16)),
    element(0x28, 0x1102, 'US', u16(256, 0, 16)),
    element(0x28, 0x1103, 'US', u16(256, 0, 16)),
    element(
      0x28,
      0x1201,
      'OW',
      lut((i) => i),
    ),
    element(
      0x28,
      0x1202,
      'OW',
      lut((i) => 255 - i),
    ),
    element(
      0x28,
      0x1203,
      'OW',
      lut((i) => (i * 7) % 256),
    ),
  ];
  const img = await decodeImage(
    writeDicom('1.2.840.10008.1.2.1', h, w, 'PALETTE COLOR', extra, element(0x7fe0, 0x10, 'OB', v)),
    'palette.dcm',
  );
  assert.equal(img.channels, 3);
  for (let p = 0; p < w * h; p++) {
    assert.deepEqual(
      [0, 1, 2].map((k) => Math.round(img.data[3 * p + k] * 255)),
      [v[p], 255 - v[p], (v[p] * 7) % 256],
    );
  }
});
