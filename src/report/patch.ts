/**
 * HTML for `medshield patch --report`: accuracy with each patch kind across scales (Vega-Lite →
 * inline SVG), the patches themselves and a few patched films with the model's answer before and
 * after. Self-contained like the other reports (no script, images as data URIs).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PatchResult } from '../attacks/physical/patch.js';
import type { Images } from '../eval/robustness.js';
import { encodePng } from '../eval/examples.js';
import { renderSvg, type VegaLiteSpec } from './charts.js';
import { esc } from './html.js';
import { VERSION, gitCommit } from '../version.js';

export interface PatchReport {
  model: string;
  surrogate?: string;
  dataset: string;
  classes: string[];
  fitImages: number;
  runs: PatchResult[];
  test: Images;
  command: string;
  seed: number;
}

const CSS =
  'body{font-family:system-ui,sans-serif;max-width:1100px;margin:0 ' +
  'auto;padding:24px;color:#1b1f24}table{border-collapse:collapse;font-size:.9em}th,td{border:1px ' +
  'solid #d0d7de;padding:4px ' +
  '8px;text-align:right}th{background:#f3f5f7}td:first-child,th:first-child{text-align:left}.ex{display:inline' +
  '-block;border:1px solid #e1e4e8;margin:4px;padding:6px;font-size:.8em;text-align:center}.ex ' +
  'img,.p img{width:84px;height:84px;image-rendering:pixelated}.p{d' +
  'isplay:inline-block;margin:4px;text-align:center;font-size:.8em}';

const png = (x: Float32Array, h: number, w: number, c: number): string =>
  `data:image/png;base64,${encodePng(x, h, w, c).toString('base64')}`;
const f = (v: number | null): string => (v === null ? '—' : v.toFixed(4));

export async function renderPatchReport(r: PatchReport): Promise<string> {
  const [h, w, c] = r.test.shape;
  const d = h * w * c;
  const name = (v: number | number[]): string =>
    Array.isArray(v)
      ? v
          .map((b, j) => (b ? r.classes[j] : null))
          .filter(Boolean)
          .join(', ') || 'none'
      : (r.classes[v] ?? String(v));
  const chart = await renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Accuracy with a patch against its size',
    width: 420,
    height: 240,
    data: { values: r.runs.map((p) => ({ mode: p.mode, scale: p.scale, accuracy: p.patchedAccuracy })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'scale', type: 'quantitative', title: 'patch area (fraction of the image)' },
      y: { field: 'accuracy', type: 'quantitative', scale: { domain: [0, 1] }, title: 'accuracy with the patch' },
      color: { field: 'mode', type: 'nominal', title: 'patch' },
    },
  } as VegaLiteSpec);
  const table =
    `<table id="patch-results"><tr><th>patch</th><th>scale</th><th>n</th><th>clean ` +
    `acc.</th><th>accuracy with patch</th><th>attack success</th></tr>` +
    r.runs
      .map(
        (p) =>
          `<tr><td>${esc(p.mode)}</td><td>${p.scale}</td><td>${p.n}</td><td>${f(p.cleanAccuracy)}` +
          `</td><td>${f(p.patchedAccuracy)}</td><td>${f(p.attackSuccessRate)}</td></tr>`,
      )
      .join('') +
    `</table>`;
  const patches = r.runs
    .flatMap((p) =>
      p.patches.map(
        (q) =>
          `<div class="p"><img alt="${esc(p.mode)} patch" src="` +
          `${png(q.patch, p.patchSize, p.patchSize, p.channels)}"><br>${esc(p.mode)}` +
          ` · ${p.scale}` +
          (p.groupBy === 'none'
            ? ''
            : ` · ${p.groupBy === 'target' ? 'to' : 'on'} ${esc(r.classes[q.group] ?? q.group)}`) +
          `</div>`,
      ),
    )
    .join('');
  const examples = r.runs
    .map((p) => {
      const ev = p.evaluation;
      const ex = (i: number): string =>
        `<div class="ex"><img alt="original ${i}" src="${png(r.test.x.subarray(i * d, (i + 1) * d), h, w, c)}"> ` +
        `<img alt="patched ${i}" src="${png(ev.xPatched.subarray(i * d, (i + 1) * d), h, w, c)}"><br>` +
        `model: ${esc(name(ev.cleanPred[i]))} → <b>${esc(name(ev.patchedPred[i]))}</b></div>`;
      return (
        `<h3>${esc(p.mode)} patch, scale ${p.scale}</h3>` +
        `${Array.from({ length: Math.min(4, ev.n) }, (_, i) => ex(i)).join('')}`
      );
    })
    .join('');
  return (
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" ` +
    `content="default-src 'none'; img-src data:; style-src 'unsafe-inline'"><title>Adversarial patches: ` +
    `${esc(r.model)}</title><style>${CSS}</style></head><body>
<h1>Adversarial patches against ${esc(r.model)} on ${esc(r.dataset)}</h1>
<p>A sticker-like square laid over part of the film, trained to flip the diagnosis wherever it lands ` +
    `(expectation over position, rotation and size; Brown et al. 2017). <b>White-box</b> patches were trained on ` +
    `this model; <b>black-box</b> patches on ` +
    `${r.surrogate ? `an independently trained model (${esc(r.surrogate)})` : 'an independent surrogate'}; ` +
    `<b>natural</b> patches are crops of real films — the control of Finlayson et al. (Science 2019). ` +
    `Patches were made from ${r.fitImages} training films and tested on ${r.runs[0]?.n ?? 0} held-out test films.</p>
${table}<div>${chart}</div><h2>Patches</h2><div id="patches">${patches}</div><h2>Examples (original · patched)</h2>` +
    `${examples}
<h2>Provenance</h2><p>medshield ${esc(VERSION)}${gitCommit() ? ` (commit ${esc(gitCommit())})` : ''}; seed ${r.seed}` +
    `; regenerate with <code>${esc(r.command)}</code></p>
</body></html>`
  );
}

export async function writePatchReport(file: string, r: PatchReport): Promise<void> {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, await renderPatchReport(r));
}
