/**
 * Image provenance: DICOM PS3.15 digital signatures (sign, verify, dump) and test PKI. Independent of the ML layers.
 */
export { parseDicom, tagStr, type ParsedDicom, type DicomElement } from './dicom-parse.js';
export { signDicom, type SignOptions, type SignResult } from './sign.js';
export {
  verifyDicom,
  verifyParsed,
  isStrict,
  unsignedPixelDependency,
  DEFAULT_ALGORITHMS,
  type VerifyPolicy,
  type FileReport,
  type SignatureReport,
} from './verify.js';
export { loadSigner, pemCertificates, type SignerCredentials } from './certificates.js';
export { PROFILES, PROFILE_NAMES, type ProfileName, type MacAlgorithm } from './profiles.js';
export {
  createTestCa,
  issueCertificate,
  writeTestPki,
  type KeyFiles,
  type TestCa,
  type IssueOptions,
} from './test-pki.js';
export { dumpSignatures } from './dump.js';
export { signImage, verifyImage, imageFormat } from './image-signature.js';
export { readPkcs12, loadSignerPkcs12 } from './pkcs12.js';
export { inflatedView } from './deflate.js';
