/**
 * Signed PNG and JPEG images: an embedded detached JWS (RFC 7515 compact serialization with the
 * unencoded, detached payload of RFC 7797: header {"alg","b64":false,"crit":["b64"],"x5c","iat","jti"})
 * whose payload is every byte of the file except the signature container itself — so all pixels,
 * all metadata and the container order are covered.
 *  - PNG (ISO/IEC 15948 §5.4): a private ancillary chunk "mdSG" (ancillary, private, reserved bit 0,
 *    unsafe-to-copy: editors must drop it when they change the image) placed right after IHDR.
 *  - JPEG (ITU-T T.81 B.2.4.6): an APP15 segment starting with the identifier "MEDSHIELD-JWS\0",
 *    placed right after SOI.
 * Algorithms: RS256/RS384/RS512 (RSASSA-PKCS1-v1_5) and ES256/ES384/ES512 (ECDSA, P1363 r||s as JWS requires).
 */
import { createSign, createVerify, randomUUID } from 'node:crypto';
import { badInput, badArgument } from '../errors.js';
import {
  parseCertificate,
  keyAlgorithmOf,
  subjectOf,
  validateChain,
  signerCertificateProblem,
  type SignerCredentials,
} from './certificates.js';
import { DEFAULT_ALGORITHMS, type FileReport, type SignatureReport, type VerifyPolicy } from './verify.js';

const PNG_SIG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const CHUNK = 'mdSG';
const APP15_ID = Buffer.from('MEDSHIELD-JWS\0', 'latin1');

export type ImageFormat = 'png' | 'jpeg';

export function imageFormat(b: Uint8Array): ImageFormat {
  if (b.length >= 8 && PNG_SIG.equals(Buffer.from(b.subarray(0, 8)))) return 'png';
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  throw badInput('not a PNG or JPEG file');
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();
function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) c = CRC_TABLE[(c ^ x) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface Container {
  start: number;
  end: number;
  jws: string;
}

/** Find our signature container; returns where new ones go too. */
function locate(b: Buffer, fmt: ImageFormat): { found: Container[]; insertAt: number } {
  const found: Container[] = [];
  if (fmt === 'png') {
    let off = 8;
    let insertAt = -1;
    while (off + 12 <= b.length) {
      const len = b.readUInt32BE(off);
      const type = b.toString('latin1', off + 4, off + 8);
      if (off + 12 + len > b.length)
        throw badInput(`PNG chunk ${JSON.stringify(type)} at offset ${off} runs past the end of the file`);
      if (type === 'IHDR') insertAt = off + 12 + len;
      if (type === CHUNK)
        found.push({ start: off, end: off + 12 + len, jws: b.toString('latin1', off + 8, off + 8 + len) });
      off += 12 + len;
      if (type === 'IEND') break;
    }
    if (insertAt < 0) throw badInput('PNG file has no IHDR chunk');
    return { found, insertAt };
  }
  let off = 2;
  while (off + 4 <= b.length) {
    if (b[off] !== 0xff) throw badInput(`JPEG marker expected at offset ${off}`);
    const marker = b[off + 1];
    if (marker === 0xda || marker === 0xd9) break; // start of scan / end of image: header segments are over
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      off += 2;
      continue;
    }
    const len = b.readUInt16BE(off + 2);
    if (len < 2 || off + 2 + len > b.length) throw badInput(`JPEG segment at offset ${off} has a bad length`);
    if (marker === 0xef && b.subarray(off + 4, off + 4 + APP15_ID.length).equals(APP15_ID))
      found.push({
        start: off,
        end: off + 2 + len,
        jws: b.toString('latin1', off + 4 + APP15_ID.length, off + 2 + len),
      });
    off += 2 + len;
  }
  return { found, insertAt: 2 };
}

const b64u = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');
const JWS_ALG: Record<string, string> = {
  'RSA-SHA256': 'RS256',
  'RSA-SHA384': 'RS384',
  'RSA-SHA512': 'RS512',
  'ECDSA-SHA256': 'ES256',
  'ECDSA-SHA384': 'ES384',
  'ECDSA-SHA512': 'ES512',
};
const FROM_JWS = Object.fromEntries(Object.entries(JWS_ALG).map(([a, b]) => [b, a]));

/** Sign a PNG or JPEG: returns the file with the signature container inserted (no other byte changes). */
export function signImage(
  input: Uint8Array,
  signer: SignerCredentials,
  mac: 'SHA256' | 'SHA384' | 'SHA512' = 'SHA256',
  now = new Date(),
): { bytes: Buffer; uid: string } {
  const b = Buffer.from(input);
  const fmt = imageFormat(b);
  const { found, insertAt } = locate(b, fmt);
  if (found.length) throw badInput(`${fmt.toUpperCase()} file is already signed by medshield`);
  const alg = JWS_ALG[`${signer.keyAlgorithm}-${mac}`];
  if (!alg) throw badArgument(`unsupported algorithm ${signer.keyAlgorithm}-${mac}`);
  if (signer.keyAlgorithm === 'ECDSA') {
    // RFC 7518 §3.4: ES256 = P-256 + SHA-256, ES384 = P-384 + SHA-384, ES512 = P-521 + SHA-512.
    const curve = signer.key.asymmetricKeyDetails?.namedCurve;
    const want = { SHA256: 'prime256v1', SHA384: 'secp384r1', SHA512: 'secp521r1' }[mac];
    if (curve !== want)
      throw badArgument(
        `${alg} needs a ${want} key, this key is ${curve ?? 'unknown'} (choose --algorithm to match the curve)`,
      );
  }
  const uid = randomUUID();
  const header = b64u(
    JSON.stringify({
      alg,
      b64: false,
      crit: ['b64'],
      x5c: [signer.certDer.toString('base64')],
      iat: Math.floor(now.getTime() / 1000),
      jti: uid,
    }),
  );
  const payload = b; // the file without the container: the container is not yet in it
  const s = createSign(mac.toLowerCase());
  s.update(header + '.');
  s.update(payload);
  const sig = s.sign({ key: signer.key, dsaEncoding: 'ieee-p1363' });
  const jws = Buffer.from(`${header}..${b64u(sig)}`, 'latin1');
  let container: Buffer;
  if (fmt === 'png') {
    const typeData = Buffer.concat([Buffer.from(CHUNK, 'latin1'), jws]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(jws.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typeData));
    container = Buffer.concat([len, typeData, crc]);
  } else {
    const body = Buffer.concat([APP15_ID, jws]);
    if (body.length + 2 > 0xffff)
      throw badInput('signature does not fit in a JPEG APP15 segment (certificate too large)');
    const hdr = Buffer.from([0xff, 0xef, 0, 0]);
    hdr.writeUInt16BE(body.length + 2, 2);
    container = Buffer.concat([hdr, body]);
  }
  return { bytes: Buffer.concat([b.subarray(0, insertAt), container, b.subarray(insertAt)]), uid };
}

/** Verify a signed PNG or JPEG under the same policy as DICOM signatures. */
export async function verifyImage(input: Uint8Array, policy: VerifyPolicy): Promise<FileReport> {
  const b = Buffer.from(input);
  const fmt = imageFormat(b);
  const { found } = locate(b, fmt);
  const signatures: SignatureReport[] = [];
  for (const c of found) {
    const r: SignatureReport = {
      uid: '',
      profile: 'none',
      algorithm: 'unknown',
      signer: '',
      time: null,
      coversPixelData: true,
      valid: false,
      reason: '',
      location: fmt === 'png' ? `${CHUNK} chunk` : 'APP15 segment',
      macId: null,
      macTransferSyntax: null,
      covered: ['whole file'],
    };
    signatures.push(r);
    const parts = c.jws.split('.');
    if (parts.length !== 3 || parts[1] !== '') {
      r.reason = 'signature container does not hold a detached JWS';
      continue;
    }
    let h: { alg?: string; b64?: boolean; x5c?: string[]; iat?: number; jti?: string };
    try {
      h = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
    } catch {
      r.reason = 'JWS header is not JSON';
      continue;
    }
    r.uid = String(h.jti ?? '');
    r.time = typeof h.iat === 'number' ? new Date(h.iat * 1000).toISOString() : null;
    const algorithm = FROM_JWS[h.alg ?? ''];
    if (!algorithm || h.b64 !== false || !h.x5c?.length) {
      r.reason = `unsupported JWS header (alg ${h.alg}, b64 ${h.b64})`;
      continue;
    }
    r.algorithm = algorithm;
    r.profile = 'base';
    let cert;
    try {
      cert = parseCertificate(Buffer.from(h.x5c[0], 'base64'), 'x5c certificate');
    } catch (e) {
      r.reason = (e as Error).message;
      continue;
    }
    r.signer = subjectOf(cert);
    if (keyAlgorithmOf(cert.publicKey) !== algorithm.split('-')[0]) {
      r.reason = 'certificate key type does not match the JWS alg';
      continue;
    }
    const v = createVerify(algorithm.split('-')[1].toLowerCase());
    v.update(parts[0] + '.');
    v.update(b.subarray(0, c.start));
    v.update(b.subarray(c.end));
    let ok = false;
    try {
      ok = v.verify({ key: cert.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(parts[2], 'base64url'));
    } catch {
      ok = false;
    }
    if (!ok) {
      r.reason = 'signature does not match the image bytes (modified image or wrong key)';
      continue;
    }
    if (!(policy.allowedAlgorithms ?? DEFAULT_ALGORITHMS).includes(algorithm)) {
      r.reason = `algorithm ${algorithm} is not allowed by the policy`;
      continue;
    }
    const chain = await validateChain(cert.raw, policy.trust, policy.intermediates ?? [], policy.at ?? new Date());
    if (!chain.trusted) {
      r.reason = chain.reason ?? 'certificate not trusted';
      continue;
    }
    const usage = signerCertificateProblem(cert.raw);
    if (usage) {
      r.reason = usage;
      continue;
    }
    r.valid = true;
    r.reason = 'ok';
  }
  const bad = signatures.find((s) => !s.valid);
  const report: FileReport = {
    signed: signatures.length > 0,
    valid: true,
    reason: 'ok',
    signatures,
    unsignedElements: [],
  };
  if (!signatures.length) {
    report.valid = !policy.requireSignature;
    report.reason = report.valid ? 'unsigned (allowed by policy)' : 'unsigned: the policy requires a signature';
  } else if (bad) {
    report.valid = false;
    report.reason = `signature ${bad.uid || '?'} invalid: ${bad.reason}`;
  }
  return report;
}
