/**
 * The common output of every single-image decoder (PNG, JPEG, DICOM): a float image in HWC order,
 * values in [0,1] (medshield's pixel convention: ε is always in pixel units), plus a record of
 * where the pixels came from and how they were mapped to [0,1].
 */
export type ImageFormat = 'png' | 'jpeg' | 'dicom';

export interface ImageSource {
  format: ImageFormat;
  /** Bits per sample as stored in the file (PNG bit depth, JPEG precision, DICOM Bits Stored). */
  bitDepth: number;
  /** PNG colour type / JPEG component layout / DICOM Photometric Interpretation, in the format's words. */
  colour: string;
  /** Whether an alpha channel was present and dropped (composited over nothing: alpha ignored). */
  alphaDropped?: boolean;
  /** DICOM only. */
  transferSyntax?: string;
  transferSyntaxName?: string;
  modality?: string;
  frames?: number;
  frame?: number;
  rescale?: { slope: number; intercept: number } | { lut: number };
  /** How values were mapped to [0,1]: a VOI window, a VOI LUT, the frame's min/max, or full scale. */
  voi?:
    | { kind: 'window'; center: number; width: number; fn: string }
    | { kind: 'lut'; entries: number }
    | { kind: 'minmax'; min: number; max: number }
    | { kind: 'fullscale'; max: number };
  inverted?: boolean;
}

export interface DecodedImage {
  width: number;
  height: number;
  channels: 1 | 3;
  /** HWC, row-major, values in [0,1]. */
  data: Float32Array;
  source: ImageSource;
}
