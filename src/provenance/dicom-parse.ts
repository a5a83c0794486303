/** The one DICOM parser lives in data/ (shared by verification, decoding, dump and the gateway). */
export * from '../data/dicom-parse.js';
