/**
 * A minimal DICOM Part 10 writer (PS3.10 §7 file meta + PS3.5 explicit VR little endian data set) for an
 * 8-bit greyscale Secondary Capture image: how the gateway tests and benchmark turn MedMNIST test
 * images into realistic DICOM requests. VOI: Window Center 127.5 / Width 255 / LINEAR_EXACT (PS3.3
 * C.11.2.1.3.2), so the decoder maps stored 0–255 exactly to [0,1].
 */
import { randomBytes } from 'node:crypto';
import { encodeElement } from '../../src/provenance/dicom-encode.js';

const ENC = { explicitVR: true, littleEndian: true };
const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

export const newUid = (): string => '2.25.' + BigInt('0x' + randomBytes(16).toString('hex')).toString();

const s = (tag: number, vr: string, v: string) => encodeElement(tag, vr, Buffer.from(v, 'latin1'), ENC);
const us = (tag: number, v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return encodeElement(tag, 'US', b, ENC);
};

export interface DicomImage {
  rows: number;
  cols: number;
  pixels: Uint8Array;
  sopInstanceUid?: string;
  patientId?: string;
}

export function writeDicom(img: DicomImage): Buffer {
  if (img.pixels.length !== img.rows * img.cols)
    throw new Error(`pixels: ${img.pixels.length} values for ${img.rows}×${img.cols}`);
  const sop = img.sopInstanceUid ?? newUid();
  const metaBody = Buffer.concat([
    encodeElement(0x00020001, 'OB', Uint8Array.of(0, 1), ENC),
    s(0x00020002, 'UI', SECONDARY_CAPTURE),
    s(0x00020003, 'UI', sop),
    s(0x00020010, 'UI', EXPLICIT_LE),
    s(0x00020012, 'UI', '2.25.1'),
  ]);
  const gl = Buffer.alloc(4);
  gl.writeUInt32LE(metaBody.length);
  const meta = Buffer.concat([encodeElement(0x00020000, 'UL', gl, ENC), metaBody]);
  const ds = Buffer.concat([
    s(0x00080016, 'UI', SECONDARY_CAPTURE),
    s(0x00080018, 'UI', sop),
    s(0x00080060, 'CS', 'CR'),
    s(0x00100010, 'PN', 'Test^Patient'),
    s(0x00100020, 'LO', img.patientId ?? 'TEST0001'),
    s(0x0020000d, 'UI', newUid()),
    s(0x0020000e, 'UI', newUid()),
    us(0x00280002, 1),
    s(0x00280004, 'CS', 'MONOCHROME2'),
    us(0x00280010, img.rows),
    us(0x00280011, img.cols),
    us(0x00280100, 8),
    us(0x00280101, 8),
    us(0x00280102, 7),
    us(0x00280103, 0),
    s(0x00281050, 'DS', '127.5'),
    s(0x00281051, 'DS', '255'),
    s(0x00281056, 'CS', 'LINEAR_EXACT'),
    encodeElement(0x7fe00010, 'OB', img.pixels, ENC),
  ]);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), meta, ds]);
}
