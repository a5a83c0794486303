/** Number formatting shared by the views. */
export const pct = (x: number | null | undefined): string =>
  x == null || !Number.isFinite(x) ? '–' : `${(100 * x).toFixed(1)} %`;
/** ε in [0,1] shown as k/255 when it is one (the unit the CLI uses), else as a decimal. */
export function epsText(e: number): string {
  const k = e * 255;
  return Math.abs(k - Math.round(k)) < 1e-6 ? `${Math.round(k)}/255` : e.toPrecision(3);
}
export const num = (x: number | null | undefined, d = 3): string =>
  x == null || !Number.isFinite(x) ? '–' : x.toFixed(d);
