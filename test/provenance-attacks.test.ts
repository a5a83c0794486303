/**
 * Issue 20, findings 1–3 and the image-size cap (item 7), reproduced on files crafted at test time
 * from the real DICOM files in ../shared/data/dicom, signed at test time by the gateway's test signer:
 *   - polyglot preambles (PNG, JPEG, TIFF magic in the 128 bytes no signature covers, the PNG's data in
 *     a trailing padding element), and non-zero trailing padding alone;
 *   - the odd-group parser differential (an element of an odd group below 0008 after the meta of an
 *     implicit VR file, inserted after or before signing) and group 0002 elements outside the meta;
 *   - rendering attributes absent at signing added afterwards (Window Center/Width, Rescale Slope/
 *     Intercept, VOI LUT Function, Modality and VOI LUT Sequences, Pixel Padding Value, Presentation
 *     LUT Shape, Number of Frames, Planar Configuration, …) on several files of every transfer syntax;
 *   - appended data sets, trailing bytes, duplicate and out-of-order tags (top level and in items), and
 *     a transfer syntax that disagrees with the encoding.
 * Each is refused by `dicom verify --require-signature` (exit 1 or 2, never 0) and answered 422 by the
 * gateway without reaching the model, while the untouched signed files pass both. PNG, JPEG and DICOM
 * declaring more than the pixel cap are refused from their headers (exit 2, HTTP 413).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { deflateSync } from 'node:zlib';
import path from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import { createGateway, loadGatewayConfig, type Gateway } from '../src/gateway/index.js';
import { signDicom, loadSigner, verifyDicom, pemCertificates } from '../src/provenance/index.js';
import { parseDicom, findElement, PIXEL_DATA, type DicomElement, type ParsedDicom } from '../src/data/dicom-parse.js';
import { encodeElement, encodeItem, encodeSequence, header, type Encoding } from '../src/provenance/dicom-encode.js';
import { decodeParsedDicom, decodeDicom, PIXEL_AFFECTING_TAGS } from '../src/data/dicom.js';
import { decodeImageAs } from '../src/data/image.js';
import {
  makeGatewayDir,
  tinyModelDir,
  testImages,
  pngBytes,
  request,
  type GatewayDir,
} from '../bench/gateway/fixtures.js';

/** POST /v1/infer on a fresh connection (long CLI runs between requests outlast keep-alive). */
const infer = (url: string, key: string, body: Uint8Array, type = 'application/dicom') =>
  request(`${url}/v1/infer`, {
    body,
    keepAlive: false,
    headers: { authorization: `Bearer ${key}`, 'content-type': type },
  });
import { cliAsync, DICOM_DIR } from './helpers.js';
// The gateway runs in this process: CLI runs must not block its event loop (spawnSync would stall it past
// headersTimeout).
const cli = cliAsync;

const tmp = mkdtempSync(path.join(tmpdir(), 'ms-attacks-'));
/** Real files across transfer syntaxes: implicit LE, explicit LE, big endian, RLE, JPEG, JPEG 2000, multi-frame. */
const BASES = [
  'MR_small_implicit.dcm',
  'CT-MONO2-16-ankle.dcm',
  'MR_small.dcm',
  'CT_small.dcm',
  'MR_small_bigendian.dcm',
  'CR1_6154.dcm',
  'GH342.dcm',
  'MR_small_RLE.dcm',
  'JPGExtended.dcm',
  'MR_small_jp2klossless.dcm',
  'emri_small.dcm',
];

let g: GatewayDir;
let gw: Gateway;
let base: string;
let modelCalls = 0;
let signed: Map<string, Buffer>;
let png: Buffer;

const sign = async (bytes: Uint8Array): Promise<Buffer> => {
  const signer = loadSigner(readFileSync(g.signerKey), readFileSync(g.signerCert));
  return Buffer.from((await signDicom(bytes, { signer, profile: 'base', mac: 'SHA256' })).bytes);
};
const encOf = (p: ParsedDicom): Encoding => ({ explicitVR: p.ts.explicitVR, littleEndian: p.ts.littleEndian });
const u16s = (vals: number[], le: boolean): Buffer => {
  const b = Buffer.alloc(2 * vals.length);
  vals.forEach((v, i) => (le ? b.writeUInt16LE(v, 2 * i) : b.writeUInt16BE(v, 2 * i)));
  return b;
};
const splice = (b: Uint8Array, at: number, remove: number, insert: Uint8Array = new Uint8Array()): Buffer =>
  Buffer.concat([b.subarray(0, at), insert, b.subarray(at + remove)]);

/** Insert an already-encoded top-level element where its tag belongs (elements ascend). */
function insertTopLevel(bytes: Buffer, tag: number, encoded: Uint8Array): Buffer {
  const p = parseDicom(bytes);
  assert.equal(findElement(p.dataset, tag), undefined, 'element absent before insertion');
  const next = p.dataset.find((e) => e.tag > tag);
  return splice(bytes, next ? next.start : bytes.length, 0, encoded);
}

/** Rendering attributes an attacker adds after signing, encoded in the file's own transfer syntax. */
function renderingAttribute(name: string, p: ParsedDicom): [number, Buffer] {
  const enc = encOf(p);
  const s = (tag: number, vr: string, v: string): [number, Buffer] => [
    tag,
    encodeElement(tag, vr, Buffer.from(v, 'latin1'), enc),
  ];
  const us = (tag: number, v: number[]): [number, Buffer] => [
    tag,
    encodeElement(tag, 'US', u16s(v, enc.littleEndian), enc),
  ];
  const lutItem = (): Buffer =>
    encodeItem(
      [
        encodeElement(0x00283002, 'US', u16s([256, 0, 16], enc.littleEndian), enc),
        encodeElement(
          0x00283006,
          enc.explicitVR ? 'OW' : 'US',
          u16s(
            Array.from({ length: 256 }, (_, i) => 65535 - 256 * i),
            enc.littleEndian,
          ),
          enc,
        ),
      ],
      enc,
    );
  switch (name) {
    case 'Window Center':
      return s(0x00281050, 'DS', '40');
    case 'Window Width':
      return s(0x00281051, 'DS', '10');
    case 'Rescale Intercept':
      return s(0x00281052, 'DS', '-4000');
    case 'Rescale Slope':
      return s(0x00281053, 'DS', '-3');
    case 'Rescale Type':
      return s(0x00281054, 'LO', 'HU');
    case 'VOI LUT Function':
      return s(0x00281056, 'CS', 'SIGMOID');
    case 'Pixel Padding Value':
      return us(0x00280120, [0]);
    case 'Smallest Image Pixel Value':
      return us(0x00280106, [0]);
    case 'Presentation LUT Shape':
      return s(0x20500020, 'CS', 'INVERSE');
    case 'Number of Frames':
      return s(0x00280008, 'IS', '2');
    case 'Planar Configuration':
      return us(0x00280006, [1]);
    case 'Modality LUT Sequence':
      return [0x00283000, encodeSequence(0x00283000, [lutItem()], enc)];
    case 'VOI LUT Sequence':
      return [0x00283010, encodeSequence(0x00283010, [lutItem()], enc)];
    default:
      throw new Error(name);
  }
}
const RENDERING = [
  'Window Center',
  'Window Width',
  'Rescale Intercept',
  'Rescale Slope',
  'Rescale Type',
  'VOI LUT Function',
  'Pixel Padding Value',
  'Smallest Image Pixel Value',
  'Presentation LUT Shape',
  'Number of Frames',
  'Planar Configuration',
  'Modality LUT Sequence',
  'VOI LUT Sequence',
];

/** A PNG (a real MedMNIST test image) for polyglots. */
const polyglotPreamble = (magic: 'png' | 'jpeg' | 'tiff'): Buffer => {
  const pre = Buffer.alloc(128);
  if (magic === 'png') png.copy(pre, 0, 0, Math.min(128, png.length));
  if (magic === 'jpeg') Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00]).copy(pre);
  if (magic === 'tiff') Buffer.from([0x49, 0x49, 0x2a, 0x00, 0x08, 0x00, 0x00, 0x00]).copy(pre);
  return pre;
};
const padding = (p: ParsedDicom, data: Uint8Array): Buffer => encodeElement(0xfffcfffc, 'OB', data, encOf(p));

/** Every crafted variant of one signed file: [description, bytes]. */
async function crafted(name: string, s: Buffer, original: Buffer): Promise<Array<[string, Buffer]>> {
  const p = parseDicom(s);
  const out: Array<[string, Buffer]> = [];
  const add = (what: string, b: Buffer): void => {
    out.push([`${name}: ${what}`, b]);
  };
  const lastPad = p.dataset[p.dataset.length - 1].tag === 0xfffcfffc ? p.dataset[p.dataset.length - 1] : undefined;
  const withoutPad = lastPad ? s.subarray(0, lastPad.start) : s;
  // 1. Polyglots.
  if (p.hasPreamble) {
    for (const m of ['png', 'jpeg', 'tiff'] as const)
      add(`${m} magic in the preamble`, Buffer.concat([polyglotPreamble(m), s.subarray(128)]));
    add(
      'PNG in the preamble, its data in a trailing padding element',
      Buffer.concat([polyglotPreamble('png'), withoutPad.subarray(128), padding(p, png)]),
    );
    const oneByte = Buffer.from(s);
    oneByte[77] = 1;
    add('one non-zero preamble byte', oneByte);
  }
  add('PNG data in a trailing padding element (zero preamble)', Buffer.concat([withoutPad, padding(p, png)]));
  // 2. Odd groups below 0008 and group 0002 after the meta.
  const enc = encOf(p);
  const first = p.dataset[0];
  const oddEl = encodeElement(0x00030010, enc.explicitVR ? 'LO' : 'UN', Buffer.from('attacker', 'latin1'), enc);
  add('odd group (0003,0010) after the meta (after signing)', splice(s, first.start, 0, oddEl));
  const hidden = parseDicom(original);
  const ds = Buffer.from(original.subarray(hidden.datasetStart));
  add(
    'odd group (0005,xxxx) hiding a whole data set after the meta',
    splice(
      s,
      first.start,
      0,
      Buffer.concat([header(0x00051000, 'UN', ds.length + (ds.length & 1), enc), ds, Buffer.alloc(ds.length & 1)]),
    ),
  );
  if (p.meta.length)
    add(
      '(0001,0010) then group 0002 after the meta',
      splice(
        s,
        first.start,
        0,
        Buffer.concat([
          encodeElement(0x00010010, enc.explicitVR ? 'LO' : 'UN', Buffer.from('x!'), enc),
          encodeElement(0x00020010, enc.explicitVR ? 'UI' : 'UN', Buffer.from('1.2.840.10008.1.2.1\0'), enc),
        ]),
      ),
    );
  // 3. Rendering attributes absent at signing, added afterwards.
  for (const r of RENDERING) {
    const [tag, el] = renderingAttribute(r, p);
    if (findElement(p.dataset, tag)) continue;
    add(`${r} added after signing`, insertTopLevel(s, tag, el));
  }
  if (!findElement(p.dataset, 0x00280000)) {
    const v = Buffer.alloc(4);
    if (enc.littleEndian) v.writeUInt32LE(4);
    else v.writeUInt32BE(4);
    add(
      'a wrong Group Length (0028,0000) inserted',
      insertTopLevel(s, 0x00280000, encodeElement(0x00280000, 'UL', v, enc)),
    );
  }
  // 4. Appended data sets and trailing bytes.
  add('a whole second DICOM file appended', Buffer.concat([s, readFileSync(path.join(DICOM_DIR, 'MR_small.dcm'))]));
  add('a second data set appended', Buffer.concat([s, ds]));
  add('the signed data set appended to itself', Buffer.concat([s, s.subarray(p.datasetStart)]));
  for (const n of [1, 3, 7, 16, 200])
    add(`${n} trailing bytes`, Buffer.concat([s, Buffer.alloc(n, n === 16 ? 0 : 0xa5)]));
  add(
    'an element appended after the signatures',
    Buffer.concat([
      withoutPad,
      encodeElement(0xfffbfffb, 'OB', Buffer.from('appended'), enc),
      ...(lastPad ? [s.subarray(lastPad.start)] : []),
    ]),
  );
  // 5. Duplicate and out-of-order tags.
  const rows = findElement(p.dataset, 0x00280010)!;
  const cols = findElement(p.dataset, 0x00280011)!;
  const dup = Buffer.from(s);
  dup.set(s.subarray(rows.start, rows.start + 4), cols.start);
  add('Columns re-tagged as a second Rows (duplicate tag)', dup);
  add('Rows duplicated', splice(s, rows.end, 0, s.subarray(rows.start, rows.end)));
  add(
    'Rows and Columns swapped (out of order)',
    Buffer.concat([
      s.subarray(0, rows.start),
      s.subarray(cols.start, cols.end),
      s.subarray(rows.start, rows.end),
      s.subarray(cols.end),
    ]),
  );
  const seqItem = findItemWithTwo(p.dataset);
  if (seqItem) {
    const [a, b] = seqItem;
    const d2 = Buffer.from(s);
    d2.set(s.subarray(a.start, a.start + 4), b.start);
    add('duplicate tag inside a sequence item', d2);
  }
  // 6. A transfer syntax that disagrees with the encoding.
  if (p.meta.length && !p.ts.encapsulated) {
    for (const uid of ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2'])
      if (uid !== p.ts.uid) add(`meta transfer syntax relabelled ${uid}`, relabel(s, p, uid));
  }
  return out;
}

/** The first item (any depth) with two elements whose first 4 bytes (the tag) can be copied. */
function findItemWithTwo(elements: DicomElement[]): [DicomElement, DicomElement] | undefined {
  for (const e of elements)
    for (const it of e.items ?? []) {
      if (it.elements.length >= 2) return [it.elements[0], it.elements[1]];
      const deeper = findItemWithTwo(it.elements);
      if (deeper) return deeper;
    }
  return undefined;
}

/** Rewrite the meta's Transfer Syntax UID (and its group length) without touching the data set. */
function relabel(s: Buffer, p: ParsedDicom, uid: string): Buffer {
  const tsEl = findElement(p.meta, 0x00020010)!;
  const v = Buffer.from(uid.length & 1 ? uid + '\0' : uid, 'latin1');
  const el = encodeElement(0x00020010, 'UI', v, { explicitVR: true, littleEndian: true });
  const out = splice(s, tsEl.start, tsEl.end - tsEl.start, el);
  const gl = findElement(p.meta, 0x00020000);
  if (gl) out.writeUInt32LE(out.readUInt32LE(gl.valueOffset) + el.length - (tsEl.end - tsEl.start), gl.valueOffset);
  return out;
}

before(async () => {
  await initEngine({ backend: 'cpu' });
  const model = await loadModel(await tinyModelDir());
  const real = model.predictProbs.bind(model);
  model.predictProbs = async (x, n) => {
    modelCalls += n;
    return real(x, n);
  };
  g = await makeGatewayDir('default', (c) => {
    c.logging = { level: 'silent' };
  });
  gw = await createGateway(loadGatewayConfig(g.config), { model });
  base = await gw.listen(0, '127.0.0.1');
  png = pngBytes((await testImages(1))[0].pixels);
  signed = new Map();
  for (const f of BASES) signed.set(f, await sign(readFileSync(path.join(DICOM_DIR, f))));
});
after(async () => {
  await gw?.close();
});

test('untouched signed files pass `dicom verify --require-signature` (exit 0) and the gateway (200)', async () => {
  const files = BASES.map((f) => {
    const out = path.join(tmp, `signed-${f}`);
    writeFileSync(out, signed.get(f)!);
    return out;
  });
  const r = await cli(['dicom', 'verify', '--trust', g.caCert, '--require-signature', ...files, '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  for (const row of JSON.parse(r.stdout)) assert.equal(row.valid, true, `${row.file}: ${row.reason}`);
  const calls = modelCalls;
  for (const f of BASES) {
    const res = await infer(base, g.apiKey, signed.get(f)!);
    assert.equal(res.status, 200, `${f}: ${res.body}`);
    assert.equal(res.json.signature.valid, true);
  }
  assert.equal(modelCalls, calls + BASES.length);
});

test('crafted files (polyglots, odd groups, rendering attributes added after signing, appended data, duplicates, relabelled syntax) are refused by the CLI and the gateway', async () => {
  const cases: Array<[string, Buffer]> = [];
  for (const f of BASES) cases.push(...(await crafted(f, signed.get(f)!, readFileSync(path.join(DICOM_DIR, f)))));
  // Classes covered on several files each.
  const count = (re: RegExp): number => new Set(cases.filter(([d]) => re.test(d)).map(([d]) => d.split(':')[0])).size;
  assert.ok(count(/magic in the preamble/) >= 8, 'polyglot preambles on several files');
  assert.ok(count(/odd group \(0003/) >= 10, 'odd groups on every base file');
  assert.ok(count(/added after signing/) >= 10, 'rendering attributes on every base file');
  assert.ok(
    new Set(cases.filter(([d]) => /added after signing/.test(d)).map(([d]) => d.split(': ')[1])).size >= 10,
    'at least 10 different rendering attributes',
  );
  assert.ok(count(/inside a sequence item/) >= 3, 'duplicates inside items on several files');

  // The CLI, all files in one run: every row invalid or an error, never valid.
  const files = cases.map(([, b], i) => {
    const out = path.join(tmp, `case-${i}.dcm`);
    writeFileSync(out, b);
    return out;
  });
  const r = await cli(['dicom', 'verify', '--trust', g.caCert, '--require-signature', ...files, '--json'], {
    timeoutMs: 600_000,
  });
  assert.ok(r.code === 1 || r.code === 2, `exit ${r.code}: ${r.stderr}`);
  const rows = JSON.parse(r.stdout) as Array<{ file: string; valid: boolean; reason?: string; error?: string }>;
  assert.equal(rows.length, cases.length);
  rows.forEach((row, i) => assert.equal(row.valid, false, `${cases[i][0]} was accepted by dicom verify`));
  // …and for the right reason, class by class.
  const why: Array<[RegExp, RegExp]> = [
    [/trailing padding element \(zero preamble\)/, /Trailing Padding \(FFFC,FFFC\) carries non-zero data/],
    [/preamble/, /preamble (carries|is not zero)/],
    [/odd group|group 0002/, /group 000[1-7]|groups 0000–0007|out of order/],
    [/added after signing/, /is not covered by a valid signature/],
    [/duplicate|duplicated|swapped/, /out of order/],
    [/appended after the signatures/, /follows the Digital Signatures Sequence/],
    [/Group Length/, /Group Length \(0028,0000\) says 4 bytes/],
  ];
  rows.forEach((row, i) => {
    const rule = why.find(([d]) => d.test(cases[i][0]));
    if (rule) assert.match(row.reason ?? row.error ?? '', rule[1], cases[i][0]);
  });

  // The gateway: 422 for every one, none reaches the model.
  const calls = modelCalls;
  for (const [what, b] of cases) {
    const res = await infer(base, g.apiKey, b).catch((e: Error) => {
      throw new Error(`${what}: ${e.message}`);
    });
    assert.equal(res.status, 422, `${what}: ${res.status} ${res.body}`);
  }
  assert.equal(modelCalls, calls, 'no refused file reached the model');
});

test('each class alone: `dicom verify --require-signature FILE` exits 1 (invalid) or 2 (malformed), with the reason', async () => {
  const s = signed.get('MR_small_implicit.dcm')!;
  const p = parseDicom(s);
  const one = async (what: string, b: Buffer, code: number, why: RegExp): Promise<void> => {
    const f = path.join(tmp, `one-${what.replace(/\W+/g, '-')}.dcm`);
    writeFileSync(f, b);
    const r = await cli(['dicom', 'verify', '--trust', g.caCert, '--require-signature', f]);
    assert.equal(r.code, code, `${what}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout + r.stderr, why, what);
  };
  await one(
    'polyglot',
    Buffer.concat([polyglotPreamble('png'), s.subarray(128)]),
    1,
    /preamble carries a PNG signature/,
  );
  await one(
    'odd group',
    splice(s, p.dataset[0].start, 0, encodeElement(0x00070010, 'UN', Buffer.from('xx'), encOf(p))),
    1,
    /group 0007/,
  );
  const [tag, el] = renderingAttribute('Rescale Slope', p);
  await one('rescale', insertTopLevel(s, tag, el), 1, /\(0028,1053\) Rescale Slope is not covered/);
  await one('trailing', Buffer.concat([s, Buffer.alloc(5, 1)]), 2, /error/);
  const rows = findElement(p.dataset, 0x00280010)!;
  await one('duplicate', splice(s, rows.end, 0, s.subarray(rows.start, rows.end)), 2, /out of order/);
  // `predict` sniffs files (nothing verified): a polyglot is refused as ambiguous, never decoded as its PNG.
  const poly = path.join(tmp, 'polyglot.dcm');
  writeFileSync(poly, Buffer.concat([polyglotPreamble('png'), s.subarray(128)]));
  const pr = await cli(['predict', '--model', 'default', poly]);
  assert.equal(pr.code, 2, pr.stdout + pr.stderr);
  assert.match(pr.stderr, /ambiguous file: a PNG signature in the DICOM preamble/);
  // Without --require-signature the same rendering attribute is only listed as unsigned (the old behaviour).
  const f = path.join(tmp, 'lenient.dcm');
  writeFileSync(f, insertTopLevel(s, tag, el));
  const lenient = await cli(['dicom', 'verify', '--trust', g.caCert, f, '--json']);
  assert.equal(lenient.code, 0, lenient.stderr);
  assert.ok(JSON.parse(lenient.stdout)[0].unsignedElements.includes('(0028,1053)'));
});

test('the decoder reads only pixel-affecting attributes, and a rendering attribute signed with the image is accepted', async () => {
  const listed = new Set(PIXEL_AFFECTING_TAGS.map(([t]) => t));
  for (const f of BASES) {
    const { used } = await decodeParsedDicom(parseDicom(readFileSync(path.join(DICOM_DIR, f))), f);
    assert.ok(used.has(PIXEL_DATA) && used.has(0x00280010) && used.has(0x00280011), f);
    for (const t of used) assert.ok(listed.has(t), `${f}: decoder read ${t.toString(16)}`);
  }
  // Added BEFORE signing, a VOI LUT Function is covered: valid under the strict policy, and the decoder applies it.
  const orig = readFileSync(path.join(DICOM_DIR, 'MR_small.dcm'));
  const [tag, el] = renderingAttribute('VOI LUT Function', parseDicom(orig));
  const windowed = await sign(insertTopLevel(orig, tag, el));
  const trust = pemCertificates(readFileSync(g.caCert, 'utf8'));
  assert.equal((await verifyDicom(windowed, { trust, requireSignature: true })).valid, true);
  assert.equal((await decodeDicom(windowed)).source.voi?.kind, 'window');
  assert.match(JSON.stringify((await decodeDicom(windowed)).source.voi), /"fn":"SIGMOID"/);
  const res = await infer(base, g.apiKey, windowed);
  assert.equal(res.status, 200, res.body);
});

test('a verified type is never sniffed past: PNG bytes are not decoded as DICOM, nor DICOM as PNG/JPEG', async () => {
  const dcm = readFileSync(path.join(DICOM_DIR, 'MR_small.dcm'));
  await assert.rejects(decodeImageAs('dicom', png), /not a DICOM file/);
  await assert.rejects(decodeImageAs('png', dcm), /not a PNG file/);
  await assert.rejects(decodeImageAs('jpeg', dcm), /not a JPEG file/);
  // A PNG body sent as application/dicom is refused (422), not decoded as the PNG it is.
  const res = await infer(base, g.apiKey, png);
  assert.equal(res.status, 422, res.body);
});

/** A PNG that declares width × height but holds a few bytes of image data (74 bytes for 20000×20000). */
function hugePng(width: number, height: number): Buffer {
  const crc = (b: Buffer): number => {
    let c = ~0;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    }
    return ~c >>> 0;
  };
  const chunk = (type: string, data: Buffer): Buffer => {
    const t = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(t));
    return Buffer.concat([len, t, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(8))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

test('image-size cap: a tiny PNG declaring 20000×20000, a JPEG and a DICOM declaring more than 64 MP are refused from their headers (CLI exit 2, gateway 413)', async () => {
  const bigPng = hugePng(20000, 20000);
  assert.ok(bigPng.length <= 80, `${bigPng.length} bytes`);
  // JPEG: a real JPEG header with its SOF size rewritten to 65000×65000.
  const { default: jpeg } = await import('jpeg-js');
  const small = Buffer.from(jpeg.encode({ width: 28, height: 28, data: Buffer.alloc(28 * 28 * 4, 128) }, 90).data);
  const sof = small.indexOf(Buffer.from([0xff, 0xc0]));
  const bigJpeg = Buffer.from(small);
  bigJpeg.writeUInt16BE(65000, sof + 5);
  bigJpeg.writeUInt16BE(65000, sof + 7);
  // DICOM: a real file with Rows and Columns rewritten to 65535.
  const dcm = Buffer.from(readFileSync(path.join(DICOM_DIR, 'MR_small.dcm')));
  const p = parseDicom(dcm);
  for (const t of [0x00280010, 0x00280011]) dcm.writeUInt16LE(65535, findElement(p.dataset, t)!.valueOffset);
  const files = { png: bigPng, jpg: bigJpeg, dcm };
  for (const [ext, b] of Object.entries(files)) {
    const f = path.join(tmp, `huge.${ext}`);
    writeFileSync(f, b);
    const r = await cli(['predict', '--model', 'default', f]);
    assert.equal(r.code, 2, `${ext}: ${r.stderr}`);
    assert.match(r.stderr, /image too large/, ext);
  }
  await assert.rejects(decodeImageAs('png', bigPng, 'x', { maxPixels: 1000 }), /image too large/);
  // The CLI cap is configurable: MEDSHIELD_MAX_PIXELS=100 refuses a real 28×28 image (784 px).
  const smallPng = path.join(tmp, 'small.png');
  writeFileSync(smallPng, png);
  const capped = await cli(['predict', '--model', 'default', smallPng], { env: { MEDSHIELD_MAX_PIXELS: '100' } });
  assert.equal(capped.code, 2, capped.stderr);
  assert.match(capped.stderr, /image too large: 28×28/);
  // A gateway that serves unsigned PNG/JPEG/DICOM (signature.required false): 413, the model is not called.
  const g2 = await makeGatewayDir('default', (c) => {
    c.logging = { level: 'silent' };
    c.signature.required = false;
    c.inputs.contentTypes = ['application/dicom', 'image/png', 'image/jpeg'];
  });
  const model = await loadModel(await tinyModelDir());
  let calls = 0;
  const real = model.predictProbs.bind(model);
  model.predictProbs = async (x, n) => {
    calls += n;
    return real(x, n);
  };
  const gw2 = await createGateway(loadGatewayConfig(g2.config), { model });
  try {
    const base2 = await gw2.listen(0, '127.0.0.1');
    for (const [type, b] of [
      ['image/png', bigPng],
      ['image/jpeg', bigJpeg],
      ['application/dicom', dcm],
    ] as const) {
      const res = await infer(base2, g2.apiKey, b, type);
      assert.equal(res.status, 413, `${type}: ${res.body}`);
      assert.match(res.json.message, /image too large/);
    }
    assert.equal(calls, 0);
    const ok = await infer(base2, g2.apiKey, png, 'image/png');
    assert.equal(ok.status, 200, ok.body);
  } finally {
    await gw2.close();
  }
});
