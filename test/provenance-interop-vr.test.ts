/**
 * DCMTK interop on Implicit VR data sets whose elements have ambiguous ("multi") dictionary VRs — issue 20,
 * finding 6. In Implicit VR the MAC stream (Explicit VR Little Endian) must name each element's VR, and
 * dcmsign names the VR its reader assigned (DcmItem::checkAndUpdateVR, DcmVR::getValidEVR): "US or SS" is
 * resolved from Pixel Representation only for a few attributes and only inside the same item, palette
 * descriptors stay US, "OB or OW" falls back to OB, and so on (vr-dictionary.ts signatureVR).
 *
 * The cases are CONSTRUCTED from one real file: the ultrasound image JPGLosslessP14SV1_1s_1f_8b.dcm of
 * ../shared/data/dicom, decompressed by `dcmdjpeg` and re-encoded Implicit VR Little Endian by `dcmconv +ti`;
 * attributes are then spliced in by hand (palette colour tables, segmented palettes, LUT sequences with
 * explicit lengths, overlay/waveform/curve data). Their pixel data is the real image; the added tables are
 * synthetic and only exercise the encoding. For each case: medshield's MAC byte stream equals the stream dcmsign
 * dumps (`--dump`), `dcmsign --verify` accepts medshield's signature, medshield accepts dcmsign's, and a
 * flipped byte in an ambiguous-VR element is rejected by both.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  signDicom,
  verifyDicom,
  writeTestPki,
  loadSigner,
  pemCertificates,
  type KeyFiles,
} from '../src/provenance/index.js';
import { parseDicom, findElement, type DicomElement } from '../src/provenance/dicom-parse.js';
import {
  MacWriter,
  isSignable,
  sortedByTag,
  writeSignatureFormat,
  implicitSignatureVR,
} from '../src/provenance/mac-encoding.js';
import { DICOM_DIR } from './helpers.js';

const tool = (name: string): boolean => spawnSync(name, ['--version'], { encoding: 'utf8' }).status === 0;
const skip =
  tool('dcmsign') && tool('dcmdjpeg') && tool('dcmconv')
    ? false
    : 'DCMTK (dcmsign, dcmdjpeg, dcmconv) is not installed: DCMTK interop not tested';
const tmp = mkdtempSync(path.join(tmpdir(), 'ms-interop-vr-'));
let keys: KeyFiles;
let trust: Buffer[];
let base: Buffer;

function run(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { code: r.status ?? -1, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

before(async () => {
  if (skip) return;
  keys = await writeTestPki(path.join(tmp, 'keys'));
  trust = pemCertificates(readFileSync(keys.caCert, 'utf8'));
  const el = path.join(tmp, 'us-explicit.dcm');
  const im = path.join(tmp, 'us-implicit.dcm');
  assert.equal(run('dcmdjpeg', [path.join(DICOM_DIR, 'JPGLosslessP14SV1_1s_1f_8b.dcm'), el]).code, 0);
  assert.equal(run('dcmconv', ['+ti', el, im]).code, 0);
  base = readFileSync(im);
  assert.equal(parseDicom(base).ts.explicitVR, false);
});

// ---- Implicit VR Little Endian encoders (PS3.5 §7.1.3, §7.5) ----
const u16 = (...v: number[]): Buffer => {
  const b = Buffer.alloc(v.length * 2);
  v.forEach((x, i) => b.writeUInt16LE(x & 0xffff, i * 2));
  return b;
};
function elem(tag: number, value: Buffer | string): Buffer {
  let v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  if (v.length & 1) v = Buffer.concat([v, Buffer.from([typeof value === 'string' ? 0x20 : 0])]);
  const h = Buffer.alloc(8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  h.writeUInt32LE(v.length, 4);
  return Buffer.concat([h, v]);
}
function header(tag: number, length: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  h.writeUInt32LE(length >>> 0, 4);
  return h;
}
const UNDEF = 0xffffffff;
function item(elements: Buffer[], explicitLength: boolean): Buffer {
  const body = Buffer.concat(elements);
  return explicitLength
    ? Buffer.concat([header(0xfffee000, body.length), body])
    : Buffer.concat([header(0xfffee000, UNDEF), body, header(0xfffee00d, 0)]);
}
function sequence(tag: number, items: Buffer[], explicitLength: boolean): Buffer {
  const body = Buffer.concat(items);
  return explicitLength
    ? Buffer.concat([header(tag, body.length), body])
    : Buffer.concat([header(tag, UNDEF), body, header(0xfffee0dd, 0)]);
}
/** Replace or insert top-level elements (already encoded), keeping ascending tag order. */
function withElements(bytes: Buffer, add: Array<[number, Buffer]>): Buffer {
  let out = bytes;
  for (const [tag, enc] of add) {
    const p = parseDicom(out);
    const old = findElement(p.dataset, tag);
    if (old) {
      out = Buffer.concat([out.subarray(0, old.start), enc, out.subarray(old.end)]);
      continue;
    }
    const after = p.dataset.find((e) => e.tag > tag);
    const at = after ? after.start : out.length;
    out = Buffer.concat([out.subarray(0, at), enc, out.subarray(at)]);
  }
  return out;
}

const ramp = (n: number, scale: number): Buffer => u16(...Array.from({ length: n }, (_, i) => Math.round(i * scale)));
/** A segmented palette (PS3.3 C.7.9.2): discrete segment of 1 entry, then a linear segment to 255 entries. */
const segmented = (): Buffer => u16(0, 1, 0, 1, 255, 0xffff);

function palette(pixelRepresentation: number): Array<[number, Buffer]> {
  return [
    [0x00280004, elem(0x00280004, 'PALETTE COLOR')],
    [0x00280103, elem(0x00280103, u16(pixelRepresentation))],
    [0x00281101, elem(0x00281101, u16(256, 0, 16))],
    [0x00281102, elem(0x00281102, u16(256, 0, 16))],
    [0x00281103, elem(0x00281103, u16(256, 0, 16))],
    [0x00281201, elem(0x00281201, ramp(256, 257))],
    [0x00281202, elem(0x00281202, ramp(256, 128))],
    [0x00281203, elem(0x00281203, ramp(256, 64))],
    [0x00281221, elem(0x00281221, segmented())],
    [0x00281222, elem(0x00281222, segmented())],
    [0x00281223, elem(0x00281223, segmented())],
  ];
}

interface Case {
  name: string;
  add: () => Array<[number, Buffer]>;
  expect: Array<[string, string]>;
}

const cases: Case[] = [
  {
    name: 'PALETTE COLOR, unsigned pixels: palette descriptors (US or SS), palette and segmented palette LUTs',
    add: () => palette(0),
    expect: [
      ['(0028,1101)', 'US'],
      ['(0028,1221)', 'OW'],
    ],
  },
  {
    // The shape of the held-out file of finding 6: the descriptors stay US in DCMTK although Pixel Representation is 1.
    name:
      'PALETTE COLOR, Pixel Representation 1: palette descriptors ' +
      'stay US; Pixel Padding Value and Smallest/Largest become SS',
    add: () => [
      ...palette(1),
      [0x00280106, elem(0x00280106, u16(0))],
      [0x00280107, elem(0x00280107, u16(250))],
      [0x00280120, elem(0x00280120, u16(0xffff))],
    ],
    expect: [
      ['(0028,1101)', 'US'],
      ['(0028,0120)', 'SS'],
      ['(0028,0106)', 'SS'],
    ],
  },
  {
    // A LUT Descriptor inside a sequence item does not see the top-level Pixel Representation (DCMTK reads it per
    // item).
    name:
      'explicit-length Modality LUT and VOI LUT sequences with LUT ' +
      'Descriptors (US or SS) and LUT Data (US or OW), signed pixels',
    add: () => [
      [0x00280103, elem(0x00280103, u16(1))],
      [
        0x00283000,
        sequence(
          0x00283000,
          [item([elem(0x00283002, u16(256, 0, 16)), elem(0x00283004, 'HU'), elem(0x00283006, ramp(256, 16))], true)],
          true,
        ),
      ],
      [
        0x00283010,
        sequence(
          0x00283010,
          [
            item([elem(0x00283002, u16(256, 0, 16)), elem(0x00283003, 'ramp'), elem(0x00283006, ramp(256, 200))], true),
            item(
              [elem(0x00280103, u16(1)), elem(0x00283002, u16(128, 0xff80, 16)), elem(0x00283006, ramp(128, 300))],
              false,
            ),
          ],
          true,
        ),
      ],
    ],
    expect: [],
  },
  {
    name:
      'OB-or-OW elements: overlay data, curve data, dark current counts, ' +
      'waveform channel values before and after Waveform Bits Allocated',
    add: () => [
      [0x00143050, elem(0x00143050, Buffer.from([1, 2, 3, 4, 5, 6]))],
      [0x50000005, elem(0x50000005, u16(1))],
      [0x50003000, elem(0x50003000, Buffer.from([9, 8, 7, 6]))],
      [
        0x54000100,
        sequence(
          0x54000100,
          [
            item(
              [
                elem(0x003a0005, u16(1)),
                elem(0x003a0010, Buffer.from([4, 0, 0, 0])),
                elem(0x003a001a, '500'),
                elem(0x54000110, u16(0xfff0)),
                elem(0x54000112, u16(0x0010)),
                elem(0x54001004, u16(16)),
                elem(0x54001006, 'SS'),
                elem(0x5400100a, u16(0x8000)),
                elem(0x54001010, u16(1, 2, 3, 4)),
              ],
              true,
            ),
          ],
          true,
        ),
      ],
      [0x60000010, elem(0x60000010, u16(2))],
      [0x60000011, elem(0x60000011, u16(8))],
      [0x60000040, elem(0x60000040, 'G')],
      [0x60000050, elem(0x60000050, u16(1, 1))],
      [0x60000100, elem(0x60000100, u16(1))],
      [0x60000102, elem(0x60000102, u16(0))],
      [0x60003000, elem(0x60003000, Buffer.from([0xff, 0x0f]))],
    ],
    expect: [
      ['(0014,3050)', 'OB'],
      ['(5000,3000)', 'OB'],
      ['(6000,3000)', 'OW'],
    ],
  },
];

/** medshield's MAC stream over the data set (the part before the signature item's attributes). */
function ourStream(bytes: Buffer): Buffer {
  const p = parseDicom(bytes);
  const parts: Buffer[] = [];
  const w = new MacWriter({ update: (d: Uint8Array) => parts.push(Buffer.from(d)) }, true, true);
  for (const e of sortedByTag(p.dataset)) if (isSignable(e)) writeSignatureFormat(p.bytes, e, w, p.dataset);
  w.flush();
  return Buffer.concat(parts);
}

const tagOf = (s: string): number => parseInt(s.slice(1, 5) + s.slice(6, 10), 16) >>> 0;

for (const [i, c] of cases.entries()) {
  test(`implicit VR, ${c.name}: same MAC stream as dcmsign; each side verifies the other's signature`, {
    skip,
  }, async () => {
    const file = path.join(tmp, `case${i}.dcm`);
    const bytes = withElements(base, c.add());
    writeFileSync(file, bytes);
    assert.equal(run('dcmdump', ['-q', file]).code, 0, 'DCMTK parses the constructed file');
    const p = parseDicom(bytes);
    for (const [t, vr] of c.expect)
      assert.equal(
        implicitSignatureVR(p.bytes, findElement(p.dataset, tagOf(t))!, p.dataset),
        vr,
        `${t} is written as ${vr}`,
      );

    // dcmsign signs and dumps the bytes it fed to the MAC; medshield's stream must be its prefix (the rest is the
    // signature item's MAC ID, UID, DateTime and Certificate Type).
    const dump = path.join(tmp, `case${i}.mac`);
    const dk = path.join(tmp, `case${i}-dcmsign.dcm`);
    const s = run('dcmsign', ['--sign', keys.signerKey, keys.signerCert, '--mac-sha256', '--dump', dump, file, dk]);
    assert.equal(s.code, 0, s.out);
    const theirs = readFileSync(dump);
    const ours = ourStream(bytes);
    let at = 0;
    while (at < ours.length && ours[at] === theirs[at]) at++;
    assert.equal(
      at,
      ours.length,
      `MAC streams differ at byte ${at}: medshield ${ours.subarray(at - 8, at + 16).toString('hex')}` +
        ` vs dcmsign ${theirs.subarray(at - 8, at + 16).toString('hex')}`,
    );
    assert.equal(theirs.readUInt32LE(ours.length), 0x00050400, 'dcmsign continues with the signature item (0400,0005)');

    const rep = await verifyDicom(readFileSync(dk), { trust, requireSignature: true });
    assert.equal(rep.valid, true, `medshield on dcmsign's signature: ${rep.reason}`);

    const signer = loadSigner(readFileSync(keys.signerKey), readFileSync(keys.signerCert));
    const ms = path.join(tmp, `case${i}-medshield.dcm`);
    const signed = (await signDicom(bytes, { signer })).bytes;
    writeFileSync(ms, signed);
    const v = run('dcmsign', ['--verify', '--add-cert-file', keys.caCert, ms]);
    assert.equal(v.code, 0, `dcmsign --verify on medshield's signature: ${v.out}`);
    assert.match(v.out, /Signature Verification : OK/);
    assert.equal((await verifyDicom(signed, { trust, requireSignature: true })).valid, true);

    // Flip one value byte of the first added element that is not a sequence: both reject.
    const sp = parseDicom(signed);
    const victim = c
      .add()
      .map(([t]) => findElement(sp.dataset, t)!)
      .find((e: DicomElement) => !e.items && e.length >= 2)!;
    const bad = Buffer.from(signed);
    bad[victim.valueOffset] ^= 0x01;
    writeFileSync(ms + '.tampered', bad);
    assert.notEqual(
      run('dcmsign', ['--verify', '--add-cert-file', keys.caCert, ms + '.tampered']).code,
      0,
      'dcmsign rejects the tampered file',
    );
    assert.equal((await verifyDicom(bad, { trust })).valid, false, 'medshield rejects the tampered file');
  });
}
