/**
 * RFC 3161 time-stamp tokens in DICOM signatures (PS3.3 C.12.1.1.3: Certified Timestamp Type "CMS_TSP",
 * Certified Timestamp = a DER TimeStampToken over the Signature value). Parsed and checked with pkijs:
 * the token's MessageImprint must equal the hash of the signature bytes (RFC 3161 §2.4.2) and the CMS
 * SignedData signature must verify (RFC 5652 §5.6) with the TSA certificate carried in the token; the
 * TSA certificate is then validated against the same trust anchors as the signer.
 */
import { createHash } from 'node:crypto';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { validateChain } from './certificates.js';

const HASH_OIDS: Record<string, string> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

export interface TimestampCheck {
  valid: boolean;
  time?: Date;
  reason?: string;
}

export async function checkTimestampToken(
  token: Uint8Array,
  signature: Uint8Array,
  anchors: Uint8Array[],
  intermediates: Uint8Array[],
): Promise<TimestampCheck> {
  try {
    const asn = asn1js.fromBER(new Uint8Array(token).buffer);
    if (asn.offset === -1) return { valid: false, reason: 'certified timestamp is not DER' };
    const ci = new pkijs.ContentInfo({ schema: asn.result });
    if (ci.contentType !== pkijs.ContentInfo.SIGNED_DATA)
      return { valid: false, reason: 'certified timestamp is not CMS SignedData' };
    const sd = new pkijs.SignedData({ schema: ci.content });
    const eContent = sd.encapContentInfo.eContent;
    if (!eContent) return { valid: false, reason: 'certified timestamp has no TSTInfo' };
    const tstAsn = asn1js.fromBER(eContent.getValue());
    const tst = new pkijs.TSTInfo({ schema: tstAsn.result });
    const hashName = HASH_OIDS[tst.messageImprint.hashAlgorithm.algorithmId];
    if (!hashName)
      return {
        valid: false,
        reason: `certified timestamp uses unsupported hash ${tst.messageImprint.hashAlgorithm.algorithmId}`,
      };
    const expected = createHash(hashName).update(signature).digest();
    const imprint = Buffer.from(tst.messageImprint.hashedMessage.valueBlock.valueHexView);
    if (!expected.equals(imprint))
      return { valid: false, time: tst.genTime, reason: 'certified timestamp does not match the signature' };
    const ok = await sd.verify({
      signer: 0,
      checkChain: false,
      extendedMode: true,
      data: new Uint8Array(signature).buffer,
    });
    if (!ok.signatureVerified)
      return { valid: false, time: tst.genTime, reason: 'certified timestamp signature does not verify' };
    const tsa = ok.signerCertificate;
    if (!tsa) return { valid: false, time: tst.genTime, reason: 'certified timestamp carries no TSA certificate' };
    const chain = await validateChain(new Uint8Array(tsa.toSchema().toBER(false)), anchors, intermediates, tst.genTime);
    if (!chain.trusted)
      return { valid: false, time: tst.genTime, reason: `timestamp authority not trusted: ${chain.reason}` };
    return { valid: true, time: tst.genTime };
  } catch (e) {
    return { valid: false, reason: `certified timestamp unreadable: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** Does the token's MessageImprint equal the hash of `signature`? (RFC 3161 §2.4.2) */
export function timestampCoversSignature(token: Uint8Array, signature: Uint8Array): boolean {
  try {
    const ci = new pkijs.ContentInfo({ schema: asn1js.fromBER(new Uint8Array(token).buffer).result });
    const sd = new pkijs.SignedData({ schema: ci.content });
    const tst = new pkijs.TSTInfo({ schema: asn1js.fromBER(sd.encapContentInfo.eContent!.getValue()).result });
    const hashName = HASH_OIDS[tst.messageImprint.hashAlgorithm.algorithmId];
    return (
      !!hashName &&
      createHash(hashName)
        .update(signature)
        .digest()
        .equals(Buffer.from(tst.messageImprint.hashedMessage.valueBlock.valueHexView))
    );
  } catch {
    return false;
  }
}
