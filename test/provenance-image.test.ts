/**
 * Signed PNG/JPEG images (detached JWS in a PNG chunk / JPEG APP15 segment) on real medical images:
 * a JPEG bitstream taken from a JPEG-baseline DICOM file and a PNG made from MR_small.dcm's pixels.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { signImage, verifyImage, parseDicom } from '../src/provenance/index.js';
import { findElement, PIXEL_DATA } from '../src/provenance/dicom-parse.js';
import { makePki, DICOM_DIR, type Pki } from '../bench/signatures/runs.js';
import { cli } from './helpers.js';

let pki: Pki;
let jpeg: Buffer;
let png: Buffer;
const tmp = mkdtempSync(path.join(tmpdir(), 'ms-img-'));

before(async () => {
  pki = await makePki();
  const d = readFileSync(path.join(DICOM_DIR, 'SC_jpeg_no_color_transform.dcm'));
  const px = findElement(parseDicom(d).dataset, PIXEL_DATA)!;
  const frag = px.fragments!.filter((f) => f.length > 0)[0];
  jpeg = Buffer.from(d.subarray(frag.valueOffset, frag.valueOffset + frag.length));
  // drop the fragment pad byte
  while (jpeg.length && jpeg[jpeg.length - 1] !== 0xd9) jpeg = jpeg.subarray(0, jpeg.length - 1);
  const mr = readFileSync(path.join(DICOM_DIR, 'MR_small.dcm'));
  const mpx = findElement(parseDicom(mr).dataset, PIXEL_DATA)!;
  const img = new PNG({ width: 64, height: 64, colorType: 0, inputColorType: 0, bitDepth: 8 });
  const v = new DataView(mr.buffer, mr.byteOffset + mpx.valueOffset, 64 * 64 * 2);
  let max = 1;
  for (let i = 0; i < 4096; i++) max = Math.max(max, v.getInt16(i * 2, true));
  for (let i = 0; i < 4096; i++) {
    const g = Math.max(0, Math.round((255 * v.getInt16(i * 2, true)) / max));
    img.data[i * 4] = img.data[i * 4 + 1] = img.data[i * 4 + 2] = g;
    img.data[i * 4 + 3] = 255;
  }
  png = PNG.sync.write(img);
});

for (const fmt of ['png', 'jpeg'] as const) {
  test(`${fmt}: sign → verify (RSA and ECDSA); only the container is added; any byte change is rejected`, async () => {
    const original = fmt === 'png' ? png : jpeg;
    for (const signer of [pki.rsa, pki.ec]) {
      const { bytes } = signImage(original, signer, 'SHA256');
      assert.equal(bytes.length > original.length, true);
      const rep = await verifyImage(bytes, { trust: [pki.caDer], requireSignature: true });
      assert.equal(rep.valid, true, rep.reason);
      assert.equal(rep.signatures[0].coversPixelData, true);
      assert.equal((await verifyImage(original, { trust: [pki.caDer], requireSignature: true })).valid, false);
      for (const at of [bytes.length - 3, Math.floor(bytes.length * 0.8), 20]) {
        const t = Buffer.from(bytes);
        t[at] ^= 0x01;
        let ok = false;
        try {
          ok = (await verifyImage(t, { trust: [pki.caDer], requireSignature: true })).valid;
        } catch {
          ok = false;
        }
        assert.equal(ok, false, `byte ${at} flip accepted`);
      }
      const other = await makePki();
      assert.equal((await verifyImage(bytes, { trust: [other.caDer] })).valid, false);
    }
  });
}

test('medshield sign / verify CLI on a PNG', () => {
  const keys = JSON.parse(cli(['keys', 'init', '--out', path.join(tmp, 'k'), '--json']).stdout);
  writeFileSync(path.join(tmp, 'mr.png'), png);
  const s = cli([
    'sign',
    '--key',
    keys.signerKey,
    '--cert',
    keys.signerCert,
    path.join(tmp, 'mr.png'),
    path.join(tmp, 'mr-signed.png'),
    '--json',
  ]);
  assert.equal(s.code, 0, s.stderr);
  const v = cli(['verify', '--trust', keys.caCert, '--require-signature', path.join(tmp, 'mr-signed.png'), '--json']);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(JSON.parse(v.stdout)[0].valid, true);
  const u = cli(['verify', '--trust', keys.caCert, '--require-signature', path.join(tmp, 'mr.png'), '--json']);
  assert.equal(u.code, 1);
  const d = cli(['verify', path.join(DICOM_DIR, 'MR_small.dcm')]);
  assert.equal(d.code, 2);
  assert.match(d.stderr, /not a PNG or JPEG file/);
});
