/** PNG encoding of [0,1] float images (example images in reports, PNG requests to HTTP targets). */
import { PNG } from 'pngjs';

/** Encode an H×W×C image in [0,1] as PNG bytes, upscaled by an integer factor (nearest neighbour). */
export function encodePng(img: ArrayLike<number>, h: number, w: number, c: number, scale = 1): Buffer {
  const png = new PNG({ width: w * scale, height: h * scale });
  const W = w * scale;
  for (let y = 0; y < h * scale; y++) {
    for (let x = 0; x < W; x++) {
      const src = (Math.floor(y / scale) * w + Math.floor(x / scale)) * c;
      const o = (y * W + x) * 4;
      for (let ch = 0; ch < 3; ch++)
        png.data[o + ch] = Math.round(Math.min(1, Math.max(0, img[src + (c === 1 ? 0 : ch)])) * 255);
      png.data[o + 3] = 255;
    }
  }
  return PNG.sync.write(png, { colorType: c === 1 ? 0 : 2 });
}
