/**
 * The decoded-image size cap (issue 20 item 7): width × height × frames declared in a header is checked
 * BEFORE any pixel buffer is allocated, so a 74-byte PNG declaring 20000×20000 (3.2 GB of RGBA) is
 * refused at once. The default (64 megapixels in total) is generous for radiology: a 4k×4k mammogram
 * is 16.8 MP; a 300-slice 512×512 CT stack is 78.6 MP and needs a higher cap (or frame-by-frame files).
 */
import { MedshieldError, badArgument } from '../errors.js';

export const DEFAULT_MAX_PIXELS = 64 * 1024 * 1024;

/** The cap when a caller gives none: MEDSHIELD_MAX_PIXELS (a positive integer) or 64 MP. */
export function defaultMaxPixels(): number {
  const env = process.env.MEDSHIELD_MAX_PIXELS;
  if (env === undefined || env === '') return DEFAULT_MAX_PIXELS;
  const n = Number(env);
  if (!Number.isSafeInteger(n) || n < 1)
    throw badArgument(`MEDSHIELD_MAX_PIXELS must be a positive integer, got ${JSON.stringify(env)}`);
  return n;
}

/** A BAD_INPUT error whose image is larger than the cap (the gateway answers 413). */
export class ImageTooLargeError extends MedshieldError {
  readonly tooLarge = true;
  constructor(message: string) {
    super('BAD_INPUT', message);
  }
}

/** Throw ImageTooLargeError when width × height × frames exceeds `maxPixels`. */
export function checkPixelBudget(width: number, height: number, frames: number, maxPixels: number, name: string): void {
  const total = width * height * Math.max(1, frames);
  if (total > maxPixels) {
    const mp = (n: number): string => `${(n / 2 ** 20).toFixed(n >= 10 * 2 ** 20 ? 0 : 1)} MP`;
    throw new ImageTooLargeError(
      `${name}: image too large: ${width}×${height}${frames > 1 ? `×${frames} frames` : ''}` +
        ` = ${mp(total)} exceeds the ${mp(maxPixels)} cap (maxPixels ${maxPixels})`,
    );
  }
}
