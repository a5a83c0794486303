/**
 * Provenance verbs of the library API: sign and verify images and DICOM files (DICOM PS3.15 digital
 * signatures, interoperable with DCMTK's dcmsign), signed answers of the gateway, test PKI.
 * The CLI's `sign`, `verify`, `dicom`, `keys` and `verify-result` commands call these and only these.
 */
export {
  signDicom,
  verifyDicom,
  loadSigner,
  loadSignerPkcs12,
  pemCertificates,
  dumpSignatures,
  writeTestPki,
  DEFAULT_ALGORITHMS,
  PROFILE_NAMES,
  type ProfileName,
  type MacAlgorithm,
  type FileReport,
} from '../provenance/index.js';
export { signImage, verifyImage } from '../provenance/image-signature.js';
export { validateChain } from '../provenance/certificates.js';
export { timestampCoversSignature } from '../provenance/timestamp.js';
export { verifyResult } from '../provenance/result-signature.js';
