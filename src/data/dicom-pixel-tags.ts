/**
 * The pixel-affecting DICOM attributes (issue 20 finding 3): the only top-level attributes the decoder
 * (dicom.ts) may read, and the ones a strict verifier (provenance/verify.ts) requires to be signed.
 */
import { PIXEL_DATA } from './dicom-parse.js';

/**
 * Attributes that change the pixels a model sees (top-level data set tags; a sequence covers its items).
 * The decoder can read only these (DicomView throws otherwise); under a strict policy every one present
 * must be covered by a valid signature (provenance/verify.ts). Beyond what this decoder reads, it lists
 * the rendering attributes other DICOM readers apply (pixel padding, presentation LUT, smallest/largest
 * pixel value, pixel intensity relationship, functional groups of enhanced images), so an unsigned one
 * can never change the image in any reader: PS3.3 C.7.6.3 (Image Pixel), C.11 (LUTs), C.7.6.16 (functional groups).
 */
export const PIXEL_AFFECTING_TAGS: ReadonlyArray<[number, string]> = [
  [0x00280002, 'Samples per Pixel'],
  [0x00280004, 'Photometric Interpretation'],
  [0x00280006, 'Planar Configuration'],
  [0x00280008, 'Number of Frames'],
  [0x00280010, 'Rows'],
  [0x00280011, 'Columns'],
  [0x00280100, 'Bits Allocated'],
  [0x00280101, 'Bits Stored'],
  [0x00280102, 'High Bit'],
  [0x00280103, 'Pixel Representation'],
  [0x00280106, 'Smallest Image Pixel Value'],
  [0x00280107, 'Largest Image Pixel Value'],
  [0x00280120, 'Pixel Padding Value'],
  [0x00280121, 'Pixel Padding Range Limit'],
  [0x00281040, 'Pixel Intensity Relationship'],
  [0x00281041, 'Pixel Intensity Relationship Sign'],
  [0x00281050, 'Window Center'],
  [0x00281051, 'Window Width'],
  [0x00281052, 'Rescale Intercept'],
  [0x00281053, 'Rescale Slope'],
  [0x00281054, 'Rescale Type'],
  [0x00281056, 'VOI LUT Function'],
  [0x00281101, 'Red Palette Color LUT Descriptor'],
  [0x00281102, 'Green Palette Color LUT Descriptor'],
  [0x00281103, 'Blue Palette Color LUT Descriptor'],
  [0x00281199, 'Palette Color LUT UID'],
  [0x00281201, 'Red Palette Color LUT Data'],
  [0x00281202, 'Green Palette Color LUT Data'],
  [0x00281203, 'Blue Palette Color LUT Data'],
  [0x00281221, 'Segmented Red Palette Color LUT Data'],
  [0x00281222, 'Segmented Green Palette Color LUT Data'],
  [0x00281223, 'Segmented Blue Palette Color LUT Data'],
  [0x00283000, 'Modality LUT Sequence'],
  [0x00283003, 'LUT Explanation'],
  [0x00283010, 'VOI LUT Sequence'],
  [0x20500010, 'Presentation LUT Sequence'],
  [0x20500020, 'Presentation LUT Shape'],
  [0x52009229, 'Shared Functional Groups Sequence'],
  [0x52009230, 'Per-frame Functional Groups Sequence'],
  [0x7fe00001, 'Extended Offset Table'],
  [0x7fe00002, 'Extended Offset Table Lengths'],
  [0x7fe00008, 'Float Pixel Data'],
  [0x7fe00009, 'Double Float Pixel Data'],
  [PIXEL_DATA, 'Pixel Data'],
];
const PIXEL_TAG_SET = new Set(PIXEL_AFFECTING_TAGS.map(([t]) => t));

/**
 * Does this top-level tag change the decoded pixels (in medshield or, for rendering attributes, in another
 * reader)? Besides the list: every element of the Image Pixel/presentation group 0028 and of group 7FE0
 * except group lengths.
 */
export function isPixelAffecting(tag: number): boolean {
  const g = tag >>> 16;
  // Group lengths (gggg,0000) are never read and cannot be signed (PS3.15 C.1).
  return PIXEL_TAG_SET.has(tag) || ((g === 0x0028 || g === 0x7fe0) && (tag & 0xffff) !== 0);
}
