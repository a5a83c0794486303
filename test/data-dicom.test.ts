/**
 * DICOM decoding on the 20 real files in ../shared/data/dicom (see its README for provenance and each
 * file's transfer syntax). Reference stored-pixel values are those asserted by pydicom's own test
 * suite (tests/pixels/pixels_reference.py) for the same files; where DCMTK is installed
 * (Debian `dcmtk`), every file DCMTK can decode is also compared with `dcm2pnm` output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { PACKAGE_ROOT } from '../src/version.js';
import { MedshieldError } from '../src/errors.js';
import { decodeImage } from '../src/data/image.js';
import { decodeDicom, readDicomFrame } from '../src/data/dicom.js';
import { decodeRle } from '../src/data/codecs/rle.js';

const DIR = path.join(PACKAGE_ROOT, '..', 'shared', 'data', 'dicom');
const load = (f: string): Uint8Array => new Uint8Array(readFileSync(path.join(DIR, f)));

// file, rows, cols, channels, transfer syntax, VOI kind, mean, std (of the [0,1] output), MONOCHROME1
type Case = [string, number, number, 1 | 3, string, string, number, number, boolean];
const CASES: Case[] = [
  ['CR-MONO1-10-chest.dcm', 440, 440, 1, '1.2.840.10008.1.2', 'window', 0.547, 0.157, true],
  ['CR-ModalitySequenceLUT.dcm', 1576, 1976, 1, '1.2.840.10008.1.2.4.70', 'minmax', 0.302, 0.312, true],
  ['CR1_6154.dcm', 16, 16, 1, '1.2.840.10008.1.2.1', 'window', 0.383, 0.034, true],
  ['CT-MONO2-16-ankle.dcm', 512, 512, 1, '1.2.840.10008.1.2', 'window', 0.175, 0.274, false],
  ['CT_small.dcm', 128, 128, 1, '1.2.840.10008.1.2.1', 'minmax', 0.377, 0.184, false],
  ['D_CLUNIE_CT1_RLE_FRAGS.dcm', 512, 512, 1, '1.2.840.10008.1.2.5', 'minmax', 0.503, 0.275, false],
  ['ExplVR_BigEnd.dcm', 60, 80, 3, '1.2.840.10008.1.2.2', 'fullscale', 0.673, 0.454, false],
  ['GH064.dcm', 256, 256, 1, '1.2.840.10008.1.2.4.90', 'window', 0.086, 0.137, false],
  ['GH342.dcm', 512, 512, 1, '1.2.840.10008.1.2.1', 'window', 0.239, 0.277, false],
  ['IM-0001-0001-0001.dcm', 512, 512, 1, '1.2.840.10008.1.2.4.70', 'window', 0.409, 0.245, false],
  ['JPGExtended.dcm', 1024, 256, 1, '1.2.840.10008.1.2.4.51', 'minmax', 0.054, 0.082, false],
  ['JPGLosslessP14SV1_1s_1f_8b.dcm', 768, 1024, 1, '1.2.840.10008.1.2.4.70', 'window', 0.068, 0.16, false],
  ['MR_small.dcm', 64, 64, 1, '1.2.840.10008.1.2.1', 'window', 0.443, 0.239, false],
  ['MR_small_RLE.dcm', 64, 64, 1, '1.2.840.10008.1.2.5', 'window', 0.443, 0.239, false],
  ['MR_small_bigendian.dcm', 64, 64, 1, '1.2.840.10008.1.2.2', 'window', 0.443, 0.239, false],
  ['MR_small_implicit.dcm', 64, 64, 1, '1.2.840.10008.1.2', 'window', 0.443, 0.239, false],
  ['MR_small_jp2klossless.dcm', 64, 64, 1, '1.2.840.10008.1.2.4.90', 'window', 0.443, 0.239, false],
  ['MR_small_jpeg_ls_lossless.dcm', 64, 64, 1, '1.2.840.10008.1.2.4.80', 'window', 0.443, 0.239, false],
  ['SC_jpeg_no_color_transform.dcm', 256, 256, 3, '1.2.840.10008.1.2.4.50', 'fullscale', 0.957, 0.003, false],
  ['emri_small.dcm', 64, 64, 1, '1.2.840.10008.1.2.1', 'minmax', 0.339, 0.215, false],
];

function stats(a: Float32Array): { mean: number; std: number; min: number; max: number } {
  let s = 0,
    min = Infinity,
    max = -Infinity;
  for (const v of a) {
    s += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = s / a.length;
  let d = 0;
  for (const v of a) d += (v - mean) ** 2;
  return { mean, std: Math.sqrt(d / a.length), min, max };
}

test('the shared folder holds the 20 DICOM files this test covers', () => {
  assert.deepEqual(
    readdirSync(DIR)
      .filter((f) => f.endsWith('.dcm'))
      .sort(),
    CASES.map((c) => c[0]).sort(),
  );
});

for (const [file, rows, cols, channels, ts, voi, mean, std, inverted] of CASES) {
  test(`${file}: decodes to ${rows}×${cols}×${channels} with plausible statistics`, async () => {
    const img = await decodeImage(load(file), file);
    assert.equal(img.height, rows);
    assert.equal(img.width, cols);
    assert.equal(img.channels, channels);
    assert.equal(img.data.length, rows * cols * channels);
    assert.equal(img.source.format, 'dicom');
    assert.equal(img.source.transferSyntax, ts);
    assert.equal(img.source.voi?.kind, voi);
    assert.equal(img.source.inverted ?? false, inverted);
    const s = stats(img.data);
    assert.ok(s.min >= 0 && s.max <= 1, `values in [0,1], got [${s.min}, ${s.max}]`);
    assert.ok(Math.abs(s.mean - mean) < 0.01, `mean ${s.mean.toFixed(4)} ≈ ${mean}`);
    assert.ok(Math.abs(s.std - std) < 0.01, `std ${s.std.toFixed(4)} ≈ ${std}`);
  });
}

const MR_VARIANTS = [
  'MR_small_implicit.dcm',
  'MR_small_bigendian.dcm',
  'MR_small_RLE.dcm',
  'MR_small_jpeg_ls_lossless.dcm',
  'MR_small_jp2klossless.dcm',
];

test('MR_small and its implicit / big-endian / RLE / JPEG-LS / JPEG 2000 variants decode to the same pixels', async () => {
  const ref = await readDicomFrame(load('MR_small.dcm'), 'MR_small.dcm');
  const at = (y: number, x: number): number => ref.stored[y * 64 + x];
  // pydicom's reference values for MR_small (signed 16-bit stored values).
  assert.deepEqual([at(0, 31), at(0, 32), at(0, 33)], [422, 319, 361]);
  assert.deepEqual([at(31, 0), at(31, 1), at(31, 2)], [366, 363, 322]);
  assert.deepEqual([at(63, 61), at(63, 62), at(63, 63)], [1369, 1129, 862]);
  const refImg = await decodeDicom(load('MR_small.dcm'), 'MR_small.dcm');
  for (const f of MR_VARIANTS) {
    const v = await readDicomFrame(load(f), f);
    assert.deepEqual(v.stored, ref.stored, `${f}: stored values`);
    assert.deepEqual((await decodeDicom(load(f), f)).data, refImg.data, `${f}: output pixels`);
  }
  const jls = await readDicomFrame(load('MR_small_jpeg_ls_lossless.dcm'), 'jls');
  assert.deepEqual(
    Array.from({ length: 9 }, (_, i) => jls.stored[(55 + i) * 64 + 35]),
    [170, 193, 191, 373, 1293, 2053, 1879, 1683, 1711],
  );
});

test('stored values match pydicom references: CT_small, JPEG extended 12-bit, JPEG lossless, multi-frame emri_small', async () => {
  const ct = await readDicomFrame(load('CT_small.dcm'), 'CT_small');
  assert.deepEqual(
    [36, 37, 38, 39].map((x) => ct.stored[24 * 128 + x]),
    [520, 802, 930, 1008],
  );
  assert.deepEqual(
    [40, 41, 42, 43, 44].map((y) => ct.stored[y * 128 + 40]),
    [1138, 1165, 1113, 1088, 1072],
  );

  // Lossy JPEG: ISO/IEC 10918-2 lets conforming IDCTs differ by one unit, so allow ±1 from pydicom's libjpeg.
  const ext = await readDicomFrame(load('JPGExtended.dcm'), 'JPGExtended');
  assert.ok(Math.abs(ext.stored[420 * 256 + 140] - 244) <= 1, `got ${ext.stored[420 * 256 + 140]}`);
  assert.ok(Math.abs(ext.stored[230 * 256 + 120] - 95) <= 1, `got ${ext.stored[230 * 256 + 120]}`);

  const ll = await readDicomFrame(load('JPGLosslessP14SV1_1s_1f_8b.dcm'), 'JPGLossless');
  const row = (y: number): number[] => Array.from({ length: 8 }, (_, i) => ll.stored[y * 1024 + 512 + i]);
  assert.deepEqual(row(300), [26, 26, 25, 22, 19, 16, 14, 15]);
  assert.deepEqual(row(600), [45, 43, 41, 38, 33, 30, 26, 21]);

  const emri = load('emri_small.dcm');
  const expect: Array<[number, number[], number[], number[]]> = [
    [0, [206, 197, 159], [49, 78, 128], [362, 219, 135]],
    [4, [67, 82, 44], [37, 41, 17], [225, 380, 355]],
    [9, [72, 86, 69], [25, 4, 9], [227, 300, 147]],
  ];
  for (const [frame, top, left, last] of expect) {
    const f = await readDicomFrame(emri, 'emri_small', { frame });
    assert.equal(f.header.frames, 10);
    assert.deepEqual(
      [31, 32, 33].map((x) => f.stored[x]),
      top,
      `frame ${frame}`,
    );
    assert.deepEqual(
      [0, 1, 2].map((x) => f.stored[31 * 64 + x]),
      left,
      `frame ${frame}`,
    );
    assert.deepEqual(
      [61, 62, 63].map((x) => f.stored[63 * 64 + x]),
      last,
      `frame ${frame}`,
    );
  }
  await assert.rejects(
    decodeDicom(emri, 'emri_small', { frame: 10 }),
    (e: unknown) => e instanceof MedshieldError && e.code === 'BAD_ARGUMENT' && /frame 10 out of range/.test(e.message),
  );
});

test('colour: big-endian planar RGB and RGB JPEG without colour transform match pydicom', async () => {
  const us = await decodeDicom(load('ExplVR_BigEnd.dcm'), 'ExplVR_BigEnd');
  const px = (img: typeof us, y: number, x: number): number[] =>
    [0, 1, 2].map((k) => Math.round(img.data[(y * img.width + x) * 3 + k] * 255));
  assert.deepEqual(
    [3, 4, 5].map((x) => px(us, 9, x)),
    [
      [171, 171, 171],
      [255, 255, 255],
      [255, 255, 0],
    ],
  );
  assert.deepEqual(
    [8, 9, 10, 11].map((x) => px(us, 58, x)),
    [
      [255, 236, 0],
      [255, 183, 0],
      [255, 175, 0],
      [255, 183, 0],
    ],
  );

  const sc = await decodeDicom(load('SC_jpeg_no_color_transform.dcm'), 'SC_jpeg');
  const near = (got: number[][], want: number[][]): void => {
    got
      .flat()
      .forEach((g, i) =>
        assert.ok(Math.abs(g - want.flat()[i]) <= 1, `${JSON.stringify(got)} ≈ ${JSON.stringify(want)}`),
      );
  };
  near(
    [77, 78, 79, 80].map((x) => px(sc, 29, x)),
    [
      [240, 243, 246],
      [214, 210, 213],
      [150, 134, 134],
      [244, 244, 244],
    ],
  );
  near(
    [224, 225, 226].map((y) => px(sc, y, 253)),
    [
      [232, 236, 238],
      [190, 175, 178],
      [215, 200, 202],
    ],
  );
});

/** PS3.3 C.11.2.1.2.1 linear VOI, written out independently of the implementation. */
const linearVoi = (x: number, c: number, w: number): number =>
  x <= c - 0.5 - (w - 1) / 2 ? 0 : x > c - 0.5 + (w - 1) / 2 ? 1 : (x - (c - 0.5)) / (w - 1) + 0.5;

test('grey pipeline: rescale slope/intercept, VOI window, MONOCHROME1 inversion, modality LUT', async () => {
  // CR1_6154: slope 0.684, intercept 200, window 1600/2800, MONOCHROME1.
  const cr = await readDicomFrame(load('CR1_6154.dcm'), 'CR1');
  const crImg = await decodeDicom(load('CR1_6154.dcm'), 'CR1');
  assert.deepEqual(crImg.source.rescale, { slope: 0.684, intercept: 200 });
  for (let i = 0; i < cr.stored.length; i += 7) {
    const want = 1 - linearVoi(cr.stored[i] * 0.684 + 200, 1600, 2800);
    assert.ok(Math.abs(crImg.data[i] - want) < 1e-6, `pixel ${i}`);
  }
  // CR-MONO1-10-chest: bare implicit-VR data set (no preamble), 10 of 16 bits stored, window 550/1024.
  const chest = await readDicomFrame(load('CR-MONO1-10-chest.dcm'), 'chest');
  assert.equal(chest.header.bitsStored, 10);
  const chestImg = await decodeDicom(load('CR-MONO1-10-chest.dcm'), 'chest');
  for (let i = 0; i < chest.stored.length; i += 997) {
    assert.ok(chest.stored[i] >= 0 && chest.stored[i] < 1024);
    assert.ok(Math.abs(chestImg.data[i] - (1 - linearVoi(chest.stored[i], 550, 1024))) < 1e-6);
  }
  // CR-ModalitySequenceLUT: 1024-entry Modality LUT, no window → min/max of the LUT output.
  const lutImg = await decodeDicom(load('CR-ModalitySequenceLUT.dcm'), 'lut');
  assert.deepEqual(lutImg.source.rescale, { lut: 1024 });
  assert.deepEqual(lutImg.source.voi, { kind: 'minmax', min: 0, max: 1023 });
});

test('truncated copies of every file fail with one clear line', async () => {
  for (const [file] of CASES) {
    const bytes = load(file);
    for (const cut of [200, Math.floor(bytes.length * 0.5), Math.floor(bytes.length * 0.9), bytes.length - 3]) {
      await assert.rejects(decodeImage(bytes.subarray(0, cut), file), (e: unknown) => {
        assert.ok(e instanceof MedshieldError, `${file} cut at ${cut}: ${String(e)}`);
        assert.equal(e.code, 'BAD_INPUT', `${file} cut at ${cut}: ${e.message}`);
        assert.match(
          e.message,
          new RegExp(`^${file.replace(/[.]/g, '\\.')}: .*(truncated|corrupt|not a PNG, JPEG or DICOM)`),
        );
        assert.ok(!e.message.includes('\n'));
        return true;
      });
    }
  }
});

test('non-DICOM bytes are refused by the DICOM decoder', async () => {
  const bytes = new Uint8Array(readFileSync(path.join(PACKAGE_ROOT, 'package.json')));
  await assert.rejects(decodeDicom(bytes, 'package.json'), /package\.json: not a DICOM file/);
  await assert.rejects(decodeImage(bytes, 'package.json'), /package\.json: not a PNG, JPEG or DICOM image/);
});

function haveDcmtk(): boolean {
  try {
    execFileSync('dcm2pnm', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Read a binary PGM/PPM (8-bit). */
function readPnm(buf: Buffer): { w: number; h: number; c: number; data: Uint8Array } {
  const tokens: string[] = [];
  let pos = 0;
  while (tokens.length < 4) {
    while (/\s/.test(String.fromCharCode(buf[pos]))) pos++;
    if (buf[pos] === 0x23) {
      while (buf[pos] !== 0x0a) pos++;
      continue;
    }
    let t = '';
    while (!/\s/.test(String.fromCharCode(buf[pos]))) t += String.fromCharCode(buf[pos++]);
    tokens.push(t);
  }
  const [magic, w, h] = tokens;
  const c = magic === 'P6' ? 3 : 1;
  return { w: +w, h: +h, c, data: buf.subarray(pos + 1, pos + 1 + +w * +h * c) };
}

test('agrees with DCMTK dcm2pnm within one grey level on every file DCMTK decodes', {
  skip: haveDcmtk() ? false : 'dcmtk not installed',
}, async () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'medshield-dcmtk-'));
  try {
    for (const [file, , , , ts, voi] of CASES) {
      if (ts.startsWith('1.2.840.10008.1.2.4.9')) continue; // DCMTK has no JPEG 2000 decoder
      let src = path.join(DIR, file);
      const tool =
        ts === '1.2.840.10008.1.2.5'
          ? 'dcmdrle'
          : ts === '1.2.840.10008.1.2.4.80'
            ? 'dcmdjpls'
            : ts.startsWith('1.2.840.10008.1.2.4.')
              ? 'dcmdjpeg'
              : null;
      if (tool) {
        const out = path.join(tmp, file);
        execFileSync(tool, ['-q', src, out]);
        src = out;
      }
      const pnm = path.join(tmp, file + '.pnm');
      execFileSync('dcm2pnm', ['-q', voi === 'window' ? '+Wi' : '+Wm', ...(voi === 'window' ? ['1'] : []), src, pnm]);
      const ref = readPnm(readFileSync(pnm));
      const img = await decodeDicom(load(file), file);
      assert.deepEqual([img.width, img.height, img.channels], [ref.w, ref.h, ref.c], file);
      let worst = 0,
        sum = 0;
      for (let i = 0; i < ref.data.length; i++) {
        const d = Math.abs(img.data[i] * 255 - ref.data[i]);
        sum += d;
        if (d > worst) worst = d;
      }
      assert.ok(worst <= 2, `${file}: max |difference| ${worst.toFixed(2)} grey levels`);
      assert.ok(sum / ref.data.length < 1, `${file}: mean |difference| ${(sum / ref.data.length).toFixed(3)}`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

/** The File Meta Information elements of a Part 10 file (explicit VR LE, PS3.10 §7.1) and where the data set starts. */
function metaElements(bytes: Uint8Array): {
  elements: Array<{ tag: number; vr: string; value: Uint8Array }>;
  end: number;
} {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const elements: Array<{ tag: number; vr: string; value: Uint8Array }> = [];
  let p = 132;
  while (dv.getUint16(p, true) === 0x0002) {
    const tag = dv.getUint32(p, true);
    const vr = String.fromCharCode(bytes[p + 4], bytes[p + 5]);
    const long = ['OB', 'OW', 'UN', 'SQ', 'UT', 'UC', 'UR'].includes(vr);
    const len = long ? dv.getUint32(p + 8, true) : dv.getUint16(p + 6, true);
    const head = long ? 12 : 8;
    elements.push({ tag, vr, value: bytes.subarray(p + head, p + head + len) });
    p += head + len;
  }
  return { elements, end: p };
}

/** Rewrite a Part 10 file with a new transfer syntax UID and (optionally) a re-encoded data set. */
function withTransferSyntax(bytes: Uint8Array, uid: string, dataSet?: Uint8Array): Uint8Array {
  const { elements, end } = metaElements(bytes);
  const value = Buffer.from(uid.length % 2 ? uid + '\0' : uid, 'latin1');
  const parts: Buffer[] = [];
  for (const e of elements) {
    if (e.tag === 0x00000002) continue; // (0002,0000) group length, recomputed below
    const v = e.tag === 0x00100002 ? value : Buffer.from(e.value);
    const long = ['OB', 'OW', 'UN', 'SQ', 'UT', 'UC', 'UR'].includes(e.vr);
    const head = Buffer.alloc(long ? 12 : 8);
    head.writeUInt16LE(0x0002, 0);
    head.writeUInt16LE(e.tag >>> 16, 2);
    head.write(e.vr, 4, 'latin1');
    if (long) head.writeUInt32LE(v.length, 8);
    else head.writeUInt16LE(v.length, 6);
    parts.push(head, v);
  }
  const body = Buffer.concat(parts);
  const groupLength = Buffer.alloc(12);
  groupLength.writeUInt16LE(0x0002, 0);
  groupLength.writeUInt16LE(0x0000, 2);
  groupLength.write('UL', 4, 'latin1');
  groupLength.writeUInt16LE(4, 6);
  groupLength.writeUInt32LE(body.length, 8);
  return new Uint8Array(
    Buffer.concat([
      Buffer.from(bytes.subarray(0, 132)),
      groupLength,
      body,
      Buffer.from(dataSet ?? bytes.subarray(end)),
    ]),
  );
}

test('Deflated Explicit VR Little Endian: MR_small re-encoded with raw deflate decodes to the same pixels', async () => {
  const mr = load('MR_small.dcm');
  const { end } = metaElements(mr);
  const deflated = withTransferSyntax(mr, '1.2.840.10008.1.2.1.99', deflateRawSync(mr.subarray(end)));
  const img = await decodeDicom(deflated, 'MR_small_deflated.dcm');
  assert.equal(img.source.transferSyntaxName, 'Deflated Explicit VR Little Endian');
  assert.deepEqual(img.data, (await decodeDicom(mr, 'MR_small.dcm')).data);
});

test('unsupported transfer syntaxes are refused with one line naming the syntax', async () => {
  const j2k = load('MR_small_jp2klossless.dcm');
  for (const [uid, what] of [
    ['1.2.840.10008.1.2.4.99', 'unknown transfer syntax'],
    ['1.2.840.10008.1.2.4.201', 'High-Throughput JPEG 2000 Lossless Only'],
    ['1.2.840.10008.1.2.4.100', 'MPEG2'],
  ]) {
    await assert.rejects(decodeImage(withTransferSyntax(j2k, uid), 'x.dcm'), (e: unknown) => {
      assert.ok(e instanceof MedshieldError);
      assert.equal(e.code, 'UNSUPPORTED');
      assert.ok(e.message.startsWith(`x.dcm: DICOM transfer syntax ${uid} (${what}`), e.message);
      return true;
    });
  }
});

/** A PackBits encoder (runs of ≥ 3 equal bytes as replicate runs, the rest as literals), PS3.5 G.3.1. */
function packBits(src: Uint8Array): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < src.length) {
    let run = 1;
    while (i + run < src.length && run < 128 && src[i + run] === src[i]) run++;
    if (run >= 3) {
      out.push(257 - run, src[i]);
      i += run;
      continue;
    }
    let j = i;
    while (j < src.length && j - i < 128 && !(j + 2 < src.length && src[j] === src[j + 1] && src[j] === src[j + 2]))
      j++;
    out.push(j - i - 1, ...src.subarray(i, j));
    i = j;
  }
  return out;
}

/** RLE-encode pixel-interleaved samples into one frame: header, then one segment per sample byte (MSB first). */
function rleFrame(words: ArrayLike<number>, spp: number, bytesPer: number): Uint8Array {
  const nPix = words.length / spp;
  const segments: number[][] = [];
  for (let s = 0; s < spp; s++) {
    for (let b = bytesPer - 1; b >= 0; b--) {
      const plane = Uint8Array.from({ length: nPix }, (_, p) => (words[p * spp + s] >> (8 * b)) & 0xff);
      const seg = packBits(plane);
      if (seg.length % 2) seg.push(0x80); // pad with a no-op to an even length
      segments.push(seg);
    }
  }
  const header = Buffer.alloc(64);
  header.writeUInt32LE(segments.length, 0);
  let offset = 64;
  segments.forEach((seg, k) => {
    header.writeUInt32LE(offset, 4 + 4 * k);
    offset += seg.length;
  });
  return new Uint8Array(Buffer.concat([header, ...segments.map((s) => Buffer.from(s))]));
}

test('RLE decoder round-trips real 16-bit grey and 8-bit RGB samples', async () => {
  const mr = await readDicomFrame(load('MR_small.dcm'), 'MR_small');
  const mrWords = Uint32Array.from(mr.stored, (v) => v & 0xffff);
  assert.deepEqual(decodeRle(rleFrame(mrWords, 1, 2), 64, 64, 1, 16, 'mr'), mrWords);
  const us = await readDicomFrame(load('ExplVR_BigEnd.dcm'), 'US');
  const usWords = Uint32Array.from(us.stored);
  assert.deepEqual(decodeRle(rleFrame(usWords, 3, 1), 60, 80, 3, 8, 'us'), usWords);
  const frame = rleFrame(usWords, 3, 1);
  assert.throws(
    () => decodeRle(frame.subarray(0, frame.length - 500), 60, 80, 3, 8, 'us.dcm'),
    /us\.dcm: truncated RLE frame: segment \d ends at byte \d+, the frame has 1506/,
  );
  assert.throws(() => decodeRle(frame, 60, 80, 1, 8, 'us.dcm'), /us\.dcm: corrupt RLE header: 3 segments, expected 1/);
});

test('encapsulated multi-frame: emri_small re-encoded as RLE (one fragment per frame) decodes every frame as the native file does', async () => {
  const native = load('emri_small.dcm');
  const { end } = metaElements(native);
  // (7FE0,0010) OW is the last element of the data set; replace it with encapsulated RLE fragments.
  const dv = new DataView(native.buffer, native.byteOffset, native.byteLength);
  let at = -1;
  for (let p = native.length - 12; p >= end; p--)
    if (dv.getUint32(p, true) === 0x00107fe0 && native[p + 4] === 0x4f) {
      at = p;
      break;
    }
  assert.ok(at > 0);
  const frameSamples = 64 * 64;
  const item = (body: Uint8Array): Buffer => {
    const h = Buffer.alloc(8);
    h.writeUInt16LE(0xfffe, 0);
    h.writeUInt16LE(0xe000, 2);
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, Buffer.from(body)]);
  };
  const fragments: Buffer[] = [item(new Uint8Array(0))]; // empty Basic Offset Table
  for (let f = 0; f < 10; f++) {
    const words = Uint32Array.from({ length: frameSamples }, (_, i) =>
      dv.getUint16(at + 12 + 2 * (f * frameSamples + i), true),
    );
    const rle = rleFrame(words, 1, 2);
    fragments.push(item(rle.length % 2 ? Uint8Array.from([...rle, 0]) : rle));
  }
  const head = Buffer.alloc(12);
  head.writeUInt16LE(0x7fe0, 0);
  head.writeUInt16LE(0x0010, 2);
  head.write('OB', 4, 'latin1');
  head.writeUInt32LE(0xffffffff, 8);
  const delim = Buffer.alloc(8);
  delim.writeUInt16LE(0xfffe, 0);
  delim.writeUInt16LE(0xe0dd, 2);
  const dataSet = Buffer.concat([Buffer.from(native.subarray(end, at)), head, ...fragments, delim]);
  const rleFile = withTransferSyntax(native, '1.2.840.10008.1.2.5', dataSet);
  for (const frame of [0, 4, 9]) {
    const a = await readDicomFrame(rleFile, 'emri_rle', { frame });
    const b = await readDicomFrame(native, 'emri', { frame });
    assert.equal(a.syntax.name, 'RLE Lossless');
    assert.deepEqual(a.stored, b.stored, `frame ${frame}`);
  }
});

test('one parser: the decoder reads the byte-offset parser of signature verification, never the dicom-parser package', async () => {
  const src = readFileSync(path.join(PACKAGE_ROOT, 'src', 'data', 'dicom.ts'), 'utf8');
  assert.doesNotMatch(src, /from 'dicom-parser'|require\('dicom-parser'\)/);
  assert.match(src, /from '\.\/dicom-parse\.js'/);
  // The finding-2 file: an odd-group element after the meta of an implicit VR file. The decoder sees
  // exactly the data set the verifier sees (same parse), so the pixels are the original file's.
  const { parseDicom } = await import('../src/data/dicom-parse.js');
  const orig = Buffer.from(load('MR_small_implicit.dcm'));
  const p = parseDicom(orig);
  const odd = Buffer.alloc(8 + 8);
  odd.writeUInt16LE(0x0003, 0);
  odd.writeUInt16LE(0x0010, 2);
  odd.writeUInt32LE(8, 4);
  odd.write('attacker', 8, 'latin1');
  const crafted = Buffer.concat([orig.subarray(0, p.datasetStart), odd, orig.subarray(p.datasetStart)]);
  assert.deepEqual(Array.from((await decodeDicom(crafted)).data), Array.from((await decodeDicom(orig)).data));
  assert.equal(
    parseDicom(crafted).dataset[0].tag,
    0x00030010,
    'the odd element is an element of the data set, visible to the verifier',
  );
});

test('a JPEG 2000 or JPEG-LS codestream that declares another size than Rows/Columns is refused before the codec allocates', async () => {
  const patch = (file: string, find: number[], at: number, value: number[]): Buffer => {
    const b = Buffer.from(readFileSync(path.join(DIR, file)));
    const i = b.indexOf(Buffer.from(find));
    assert.ok(i > 0, `${file}: marker found`);
    Buffer.from(value).copy(b, i + at);
    return b;
  };
  // SIZ (FF4F FF51, Lsiz, Rsiz, Xsiz…): Xsiz = 20000 → a 20000-wide image behind a 64×64 header.
  const j2k = patch('MR_small_jp2klossless.dcm', [0xff, 0x4f, 0xff, 0x51], 8, [0x00, 0x00, 0x4e, 0x20]);
  await assert.rejects(
    decodeImage(j2k, 'j2k.dcm'),
    (e: Error) =>
      e instanceof MedshieldError && /compressed pixel data is 20000×\d+, header says 64×64/.test(e.message),
  );
  // SOF55 (FFF7, Lf, P, Y, X): X = 20000.
  const jls = patch('MR_small_jpeg_ls_lossless.dcm', [0xff, 0xf7], 7, [0x4e, 0x20]);
  await assert.rejects(
    decodeImage(jls, 'jls.dcm'),
    (e: Error) => e instanceof MedshieldError && /compressed pixel data is 20000×64, header says 64×64/.test(e.message),
  );
  // The untouched files still decode.
  for (const f of ['MR_small_jp2klossless.dcm', 'MR_small_jpeg_ls_lossless.dcm'])
    assert.equal((await decodeImage(readFileSync(path.join(DIR, f)), f)).width, 64);
});
