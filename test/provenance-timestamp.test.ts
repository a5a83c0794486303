/**
 * RFC 3161 certified timestamps in DICOM signatures (PS3.3 C.12.1.1.3, CMS_TSP): a test TSA built with
 * pkijs stamps the signature; verification checks the message imprint, the CMS signature and the TSA
 * chain, and a token over other data is rejected.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, webcrypto } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import {
  signDicom,
  verifyDicom,
  loadSigner,
  pemCertificates,
  createTestCa,
  issueCertificate,
} from '../src/provenance/index.js';
import { DICOM_DIR } from '../bench/signatures/runs.js';

let tsa: (data: Buffer) => Promise<Buffer>;
let caDer: Buffer;
let signer: ReturnType<typeof loadSigner>;

before(async () => {
  const ca = await createTestCa();
  caDer = pemCertificates(ca.certPem)[0];
  const s = await issueCertificate(ca, { keyType: 'rsa' });
  signer = loadSigner(s.keyPem, s.certPem);
  const t = await issueCertificate(ca, { keyType: 'rsa', subject: 'CN=medshield test TSA' });
  const tsaCert = pkijs.Certificate.fromBER(new Uint8Array(pemCertificates(t.certPem)[0]));
  const der = new Uint8Array(Buffer.from(t.keyPem.replace(/-----[^-]+-----|\s+/g, ''), 'base64'));
  const key = await webcrypto.subtle.importKey('pkcs8', der, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, [
    'sign',
  ]);
  tsa = async (data: Buffer) => {
    const tst = new pkijs.TSTInfo({
      version: 1,
      policy: '1.3.6.1.4.1.99999.1',
      messageImprint: new pkijs.MessageImprint({
        hashAlgorithm: new pkijs.AlgorithmIdentifier({ algorithmId: '2.16.840.1.101.3.4.2.1' }),
        hashedMessage: new asn1js.OctetString({ valueHex: createHash('sha256').update(data).digest() }),
      }),
      serialNumber: new asn1js.Integer({ value: 7 }),
      genTime: new Date(),
    });
    const sd = new pkijs.SignedData({
      version: 3,
      encapContentInfo: new pkijs.EncapsulatedContentInfo({
        eContentType: '1.2.840.113549.1.9.16.1.4',
        eContent: new asn1js.OctetString({ valueHex: tst.toSchema().toBER(false) }),
      }),
      signerInfos: [
        new pkijs.SignerInfo({
          version: 1,
          sid: new pkijs.IssuerAndSerialNumber({ issuer: tsaCert.issuer, serialNumber: tsaCert.serialNumber }),
        }),
      ],
      certificates: [tsaCert],
    });
    await sd.sign(key as unknown as CryptoKey, 0, 'SHA-256');
    const ci = new pkijs.ContentInfo({ contentType: '1.2.840.113549.1.7.2', content: sd.toSchema(true) });
    return Buffer.from(ci.toSchema().toBER(false));
  };
});

test('a certified timestamp over the signature verifies and sets the validation time', async () => {
  const signed = await signDicom(readFileSync(path.join(DICOM_DIR, 'CT_small.dcm')), { signer, timestamp: tsa });
  const rep = await verifyDicom(signed.bytes, { trust: [caDer] });
  assert.equal(rep.valid, true, rep.reason);
  assert.equal(rep.signatures[0].timestamp?.valid, true, rep.signatures[0].timestamp?.reason);
  assert.ok(rep.signatures[0].timestamp?.time);
});

test('a timestamp token over other data is rejected', async () => {
  const signed = await signDicom(readFileSync(path.join(DICOM_DIR, 'CT_small.dcm')), {
    signer,
    timestamp: () => tsa(Buffer.from('something else')),
  });
  const rep = await verifyDicom(signed.bytes, { trust: [caDer] });
  assert.equal(rep.valid, false);
  assert.match(rep.signatures[0].reason, /does not match the signature/);
});
