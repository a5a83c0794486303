/**
 * Signed answers: a compact JWS (RFC 7515 §7.1) over a classification result, made with the gateway's
 * own key, so a result store (PACS, RIS, EHR) can check later that a diagnosis came from this gateway,
 * for this exact input, from this exact model — closing the chain scanner → gateway → result store.
 *
 *  - Algorithm by key type (RFC 7518 §3.1): RSA → RS256; EC P-256/P-384/P-521 → ES256/ES384/ES512 with
 *    the raw r‖s signature (RFC 7518 §3.4, node's `dsaEncoding: 'ieee-p1363'`).
 *  - The protected header carries `x5c` (RFC 7515 §4.1.6): the signer's certificate first, then its
 *    issuers, standard base64 DER. The verifier takes the key from x5c[0] only, checks that `alg` is the
 *    one that key type signs with (no `none`, no HMAC, no algorithm confusion), then validates the chain
 *    to the caller's trust anchors (certificates.ts validateChain) and the leaf's digitalSignature key usage.
 *  - The payload is JSON (see {@link ResultClaims}); the bytes signed are the base64url header "."
 *    base64url payload exactly as transmitted, so one changed character anywhere fails.
 */
import 'reflect-metadata';
import { createPublicKey, createSign, createVerify, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { badInput } from '../errors.js';
import { parseCertificate, validateChain } from './certificates.js';

/** What a signed answer states. Probabilities are those the output policy let the caller see. */
export interface ResultClaims {
  /** Gateway request id (also in the audit record). */
  requestId: string;
  /** SHA-256 (hex) of the request body the model's input was decoded from. */
  inputSha256: string;
  /** SOP Instance UID of a DICOM input, else null. */
  sopInstanceUid: string | null;
  /** Subject of the verified certificate that signed the input (DICOM PS3.15 signature), else null. */
  inputSigner: string | null;
  /** Model name (card) and SHA-256 of its weights as checked at load (ModelCard.weights.sha256). */
  model: string;
  modelSha256: string | null;
  /**
   * ModelCard.weights.binding: SHA-256 binding the class order, task and input to those weights (a re-labelled card
   * changes it).
   */
  modelBinding?: string | null;
  label: number;
  className: string;
  /** Top-1 probability (output.mode top1/probs), rounded as in the answer. */
  confidence?: number;
  /** All class probabilities (output.mode probs), rounded as in the answer. */
  probabilities?: number[];
  /** ISO 8601 UTC time of the answer. */
  time: string;
  /** Subject of the gateway certificate that signed this result. */
  iss?: string;
}

export interface ResultSigner {
  key: KeyObject;
  /** DER certificates: the signer's first, then issuers (x5c order). */
  chain: Buffer[];
}

export type JwsAlg = 'RS256' | 'ES256' | 'ES384' | 'ES512';
const EC_ALG: Record<string, JwsAlg> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
const HASH: Record<JwsAlg, string> = { RS256: 'sha256', ES256: 'sha256', ES384: 'sha384', ES512: 'sha512' };

/** The JWS algorithm a key signs with; throws for other key types. */
export function jwsAlgFor(key: KeyObject): JwsAlg {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec') {
    const alg = EC_ALG[key.asymmetricKeyDetails?.namedCurve ?? ''];
    if (alg) return alg;
  }
  throw badInput(
    `cannot sign results with a ${key.asymmetricKeyType ?? 'unknown'} key` +
      `${key.asymmetricKeyDetails?.namedCurve ? ` (${key.asymmetricKeyDetails.namedCurve})` : ''}` +
      `: use RSA or EC P-256/384/521`,
  );
}

const b64u = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

/** Sign `claims` as a compact JWS with the header {alg, typ, x5c}. */
export function signResult(claims: ResultClaims, signer: ResultSigner): string {
  const alg = jwsAlgFor(signer.key);
  const header = { alg, typ: 'medshield-result+jws', x5c: signer.chain.map((d) => d.toString('base64')) };
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
  const s = createSign(HASH[alg]).update(input);
  const sig = alg === 'RS256' ? s.sign(signer.key) : s.sign({ key: signer.key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64u(sig)}`;
}

export interface ResultVerification {
  valid: boolean;
  reason: string;
  alg: string | null;
  /** Subject of x5c[0]. */
  signer: string | null;
  /** Subjects from the signer to the trust anchor (when the chain was checked). */
  chain: string[];
  /** The claims; present when the signature verified (even if the chain did not). */
  payload: ResultClaims | null;
}

export interface ResultTrust {
  /** Trust anchors (DER). */
  trust: Uint8Array[];
  /** Extra untrusted intermediates (DER), besides those in x5c. */
  intermediates?: Uint8Array[];
  /** Validity time for the chain (default now). */
  at?: Date;
}

const B64U = /^[A-Za-z0-9_-]+$/;

/**
 * Verify a compact JWS made by {@link signResult}. Throws BAD_INPUT (exit 2) when the text is not a
 * compact JWS at all (not three base64url parts, or a header that is not a JSON object naming `alg`);
 * returns valid: false with the reason for everything else (altered bytes, wrong algorithm, untrusted
 * or unusable certificate).
 */
export async function verifyResult(text: string, t: ResultTrust): Promise<ResultVerification> {
  const jws = text.trim();
  const parts = jws.split('.');
  if (parts.length !== 3 || !parts.every((p) => B64U.test(p)))
    throw badInput('not a compact JWS (expected three base64url parts separated by dots)');
  let header: { alg?: unknown; x5c?: unknown; crit?: unknown };
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
  } catch {
    throw badInput('not a compact JWS: the protected header is not JSON');
  }
  if (!header || typeof header !== 'object' || Array.isArray(header) || typeof header.alg !== 'string')
    throw badInput('not a compact JWS: the protected header names no alg');
  const out: ResultVerification = { valid: false, reason: '', alg: header.alg, signer: null, chain: [], payload: null };
  const fail = (reason: string): ResultVerification => ({ ...out, valid: false, reason });
  if (header.crit !== undefined)
    return fail('header has crit parameters, which this verifier does not understand (RFC 7515 §4.1.11)');
  if (!Array.isArray(header.x5c) || !header.x5c.length || !header.x5c.every((c) => typeof c === 'string'))
    return fail('header has no x5c certificate chain');
  let certs: Buffer[];
  try {
    certs = (header.x5c as string[]).map((c) => Buffer.from(c, 'base64'));
    certs.forEach((c, i) => parseCertificate(c, `x5c[${i}]`));
  } catch {
    return fail('x5c holds a certificate that is not valid X.509');
  }
  const leaf = parseCertificate(certs[0]);
  out.signer = leaf.subject.split('\n').join(', ');
  const key = createPublicKey(leaf.publicKey.export({ type: 'spki', format: 'pem' }));
  let expected: JwsAlg;
  try {
    expected = jwsAlgFor(key);
  } catch {
    return fail(`the signer's key type ${key.asymmetricKeyType} cannot make a JWS this verifier accepts`);
  }
  if (header.alg !== expected)
    return fail(
      `alg ${header.alg} is not the algorithm of the signer's ` +
        `${key.asymmetricKeyType?.toUpperCase()} key (${expected})`,
    );
  const sig = Buffer.from(parts[2], 'base64url');
  const v = createVerify(HASH[expected]).update(`${parts[0]}.${parts[1]}`);
  let ok = false;
  try {
    ok = expected === 'RS256' ? v.verify(key, sig) : v.verify({ key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    ok = false;
  }
  if (!ok) return fail('signature does not verify (the answer was altered or signed by another key)');
  try {
    const p = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
    if (!p || typeof p !== 'object' || Array.isArray(p)) throw new Error('not an object');
    out.payload = p as ResultClaims;
  } catch {
    return fail('signed payload is not a JSON object');
  }
  const ku = new x509.X509Certificate(new Uint8Array(certs[0])).getExtension(x509.KeyUsagesExtension);
  if (ku && !(ku.usages & x509.KeyUsageFlags.digitalSignature))
    return fail(`signer certificate "${out.signer}" lacks the digitalSignature key usage`);
  const chain = await validateChain(
    certs[0],
    t.trust,
    [...certs.slice(1), ...(t.intermediates ?? [])],
    t.at ?? new Date(),
  );
  out.chain = chain.chain;
  if (!chain.trusted) return fail(chain.reason ?? 'signer certificate is not trusted');
  return { ...out, valid: true, reason: `signed by "${out.signer}" (${expected}), chain to a trusted CA` };
}
