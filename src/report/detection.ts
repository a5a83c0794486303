/**
 * HTML for `medshield detect --report`: per detector and ε, the ROC curves of every test attack,
 * the AUC table, and the generalisation matrix (detectors fitted on the train attack, tested on each
 * attack) as a heatmap — with the protocol stated — and, when the run computed them, Ma's
 * separability plots: per ε, a 2-D PCA of the penultimate features of clean originals and their
 * successful adversarial examples (colour = clean/adversarial, shape = true class). Self-contained
 * (inline SVG, no executable script; the data it was built from is embedded as JSON in #report-data).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DetectionReport, FeatureProjection } from '../eval/detection.js';
import { renderSvg, type VegaLiteSpec } from './charts.js';
import { esc } from './html.js';
import { VERSION, gitCommit } from '../version.js';

const CSS =
  'body{font-family:system-ui,sans-serif;max-width:1100px;margin:0 ' +
  'auto;padding:24px;color:#1b1f24}table{border-collapse:collapse;font-size:.9em;margin:8px ' +
  '0}th,td{border:1px solid #d0d7de;padding:4px ' +
  '8px;text-align:right}th{background:#f3f5f7}td:first-child,th:first-child{te' +
  'xt-align:left}.chart{display:inline-block;border:1px solid ' +
  '#e1e4e8;margin:6px}.note{background:#fff8e6;border-left:4px solid #e0a100;padding:8px 12px}';
const f = (v: number | null): string => (v === null ? '—' : v.toFixed(4));

export interface DetectionMeta {
  model: string;
  dataset: string;
  command: string;
  seed: number /** Class names (for the projection legend). */;
  classes?: string[];
}

/** Ma's separability plot for one ε: PC1 × PC2 of the penultimate features. */
export async function projectionSvg(p: FeatureProjection, classes?: string[]): Promise<string> {
  const values = p.points.map((q) => ({ ...q, class: classes?.[q.label] ?? `class ${q.label}` }));
  const pc = (i: number): string => `PC${i + 1} (${(p.explainedVariance[i] * 100).toFixed(1)} % of variance)`;
  return renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: {
      text: `Penultimate features, ε = ${p.epsText}`,
      subtitle: `${p.points.length / 2} of ${p.pairs} ${p.attack} pairs (train split)`,
    },
    width: 320,
    height: 280,
    data: { values },
    mark: { type: 'point', filled: true, size: 30, opacity: 0.7 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: pc(0), scale: { zero: false } },
      y: { field: 'y', type: 'quantitative', title: pc(1), scale: { zero: false } },
      color: {
        field: 'kind',
        type: 'nominal',
        title: null,
        scale: { domain: ['clean', 'adversarial'], range: ['#1f77b4', '#d62728'] },
        legend: { orient: 'bottom' },
      },
      shape: { field: 'class', type: 'nominal', title: 'true class', legend: { orient: 'bottom' } },
    },
  } as VegaLiteSpec);
}

export async function renderDetection(reports: DetectionReport[], meta: DetectionMeta): Promise<string> {
  const charts: string[] = [];
  for (const r of reports) {
    for (const eps of [...new Set(r.results.map((x) => x.epsText))]) {
      const values = r.results
        .filter((x) => x.epsText === eps && x.roc)
        .flatMap((x) => x.roc!.map((p) => ({ attack: `${x.attack} (AUC ${f(x.auc)})`, fpr: p.fpr, tpr: p.tpr })));
      if (!values.length) continue;
      charts.push(
        await renderSvg({
          $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
          title: `${r.detector}, ε = ${eps} (fitted on ${r.trainAttack})`,
          width: 260,
          height: 220,
          layer: [
            {
              data: { values },
              mark: { type: 'line', interpolate: 'step-after' },
              encoding: {
                x: { field: 'fpr', type: 'quantitative', title: 'false-positive rate', scale: { domain: [0, 1] } },
                y: { field: 'tpr', type: 'quantitative', title: 'true-positive rate', scale: { domain: [0, 1] } },
                color: { field: 'attack', type: 'nominal', title: null, legend: { labelLimit: 0, orient: 'bottom' } },
              },
            },
            {
              data: {
                values: [
                  { a: 0, b: 0 },
                  { a: 1, b: 1 },
                ],
              },
              mark: { type: 'line', color: 'gray', strokeDash: [3, 3] },
              encoding: { x: { field: 'a', type: 'quantitative' }, y: { field: 'b', type: 'quantitative' } },
            },
          ],
        } as VegaLiteSpec),
      );
    }
  }
  const cells = reports.flatMap((r) =>
    r.results.map((x) => ({ detector: r.detector, test: `${x.attack} ${x.epsText}`, auc: x.auc })),
  );
  const heat = await renderSvg({
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Detection AUC: fitted on ${reports[0]?.trainAttack ?? ''}, tested on each attack and ε`,
    width: { step: 56 },
    height: { step: 26 },
    data: { values: cells },
    layer: [
      {
        mark: 'rect',
        encoding: {
          x: { field: 'test', type: 'nominal', title: 'test attack and ε', sort: null },
          y: { field: 'detector', type: 'nominal', title: null },
          color: { field: 'auc', type: 'quantitative', scale: { domain: [0.5, 1], scheme: 'blues' }, title: 'AUC' },
        },
      },
      {
        mark: { type: 'text', fontSize: 10 },
        encoding: {
          x: { field: 'test', type: 'nominal', sort: null },
          y: { field: 'detector', type: 'nominal' },
          text: { field: 'auc', type: 'quantitative', format: '.3f' },
        },
      },
    ],
  } as unknown as VegaLiteSpec);
  const projections = reports.find((r) => r.projection?.length)?.projection ?? [];
  const proj: string[] = [];
  for (const p of projections) proj.push(await projectionSvg(p, meta.classes));
  const projSection = projections.length
    ? `<h2>Separability of deep features (Ma et al.)</h2><p>Ma et al. found that adversarial examples of ` +
      `medical images sit apart from clean ones in the network's deep features, which is why simple detectors ` +
      `find them. Below: the penultimate-layer features of the ${esc(projections[0].attack)} fit pairs ` +
      `projected onto their first two principal components (PCA fitted on clean and adversarial features ` +
      `together), one plot per ε.</p><div id="projection">` +
      `${proj.map((c) => `<div class="chart">${c}</div>`).join('')}</div>`
    : '';
  const table =
    `<table id="detection-results"><tr><th>detector</th><th>fitted on</th><th>test ` +
    `attack</th><th>ε</th><th>pairs</th><th>AUC</th><th>TPR at 5 % FPR</th><th>threshold</th></tr>` +
    reports
      .flatMap((r) =>
        r.results.map(
          (x) =>
            `<tr><td>${esc(r.detector)}</td><td>${esc(r.trainAttack)}</td><td>` +
            `${esc(x.attack)}</td><td>${esc(x.epsText)}</td><td>${x.n}</td><td>${f(x.auc)}` +
            `</td><td>${f(x.tprAt5Fpr)}</td><td>${x.threshold ?? '—'}</td></tr>`,
        ),
      )
      .join('') +
    `</table>`;
  return (
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" ` +
    `content="default-src 'none'; img-src data:; style-src 'unsafe-inline'"><title>Adversarial-example detection: ` +
    `${esc(meta.model)}</title><style>${CSS}</style></head><body>
<h1>Adversarial-example detection on ${esc(meta.model)} (${esc(meta.dataset)})</h1>
<p class="note"><b>Protocol.</b> ${esc(reports[0]?.protocol ?? '')}. These detectors face an attacker who does not ` +
    `know they exist; an informed attacker can evade them (Amit et al.; the adaptive-attack issue).</p>
${table}<h2>Generalisation</h2><div class="chart" id="heatmap">${heat}</div><h2>ROC curves</h2><div id="roc">` +
    `${charts.map((c) => `<div class="chart">${c}</div>`).join('')}</div>
${projSection}
<h2>Provenance</h2><p>medshield ${esc(VERSION)}${gitCommit() ? ` (commit ${esc(gitCommit())})` : ''}; seed ` +
    `${meta.seed}; regenerate with <code>${esc(meta.command)}</code></p>
<script type="application/json" id="report-data">${JSON.stringify(reports).replace(/</g, '\\u003c')}</script>
</body></html>`
  );
}

export async function writeDetectionReport(
  file: string,
  reports: DetectionReport[],
  meta: DetectionMeta,
): Promise<void> {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, await renderDetection(reports, meta));
}
