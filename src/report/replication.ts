/**
 * HTML for `medshield replicate finlayson|ma`: each result beside the paper's headline, the ε at
 * which medshield first matches it, the curves (Vega-Lite → inline SVG), Ma's analyses and the
 * resolution caveat. Self-contained like the attack report.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ReplicationRow, SaliencyResult } from '../studies/replicate.js';
import type { BlackboxRow } from '../studies/replicate-blackbox.js';
import { maDetectionGroups, type MaDetection } from '../studies/replicate-detectors.js';
import { renderBlackbox } from './replication-blackbox.js';
import { renderSvg, type VegaLiteSpec } from './charts.js';
import { esc } from './html.js';
import { encodePng } from '../eval/examples.js';
import { THREAT_TAGS } from './schema.js';
import { VERSION, gitCommit } from '../version.js';

export interface ReplicationReport {
  paper: 'finlayson' | 'ma';
  title: string;
  headline: string;
  rows: ReplicationRow[];
  classes?: Array<{ classes: number; cleanAccuracy: number; attackSuccessRate: number | null; eps: string }>;
  capacity?: Array<{
    model: string;
    parameters: number;
    cleanAccuracy: number;
    attackSuccessRate: number | null;
    eps: string;
  }>;
  saliency?: SaliencyResult & { dataset: string; model: string };
  /** `replicate finlayson --blackbox`: transfer and patches per dataset. */
  blackbox?: BlackboxRow[];
  /** `replicate ma --detectors`: detection AUC beside the paper's > 98 %. */
  detection?: MaDetection;
  command: string;
  seconds: number;
  quick: boolean;
  notes: string[];
}

const RESOLUTION =
  "Resolution matters. The papers attacked 224-px images; MedMNIST's 28-px images have 64× fewer pixels, " +
  "and a perturbation's L2 size grows with the square root of the pixel count, so ε = 8/255 at 28 px is " +
  'about as large (in L2) as 1/255 at 224 px. Results are therefore reported as full ε sweeps with the ' +
  'smallest ε at which medshield matches the headline. A reference PyTorch run (ResNet-18 on PneumoniaMNIST, ' +
  'clean accuracy 0.88) measured PGD-20 robust accuracy ≈ 0.68 at 2/255, ≈ 0.30 at 4/255 and ≈ 0.00 at 8/255.';

const CSS =
  'body{font-family:system-ui,sans-serif;max-width:1100px;margin:0 ' +
  'auto;padding:24px;color:#1b1f24}table{border-collapse:collapse;font-size:.9em}th,td{border:1px solid ' +
  '#d0d7de;padding:4px ' +
  '8px;text-align:right}th{background:#f3f5f7}td:first-child,th:first-child{text-align:left}.ok{colo' +
  'r:#116329;font-weight:600}.no{color:#a40e26;font-weight:600}.tags span{background:#eef2f7;border:1px ' +
  'solid #c9d3df;border-radius:12px;padding:2px ' +
  '10px;margin-right:6px;font-size:.85em}.chart{display:inline-block;border:1px solid ' +
  '#e1e4e8;margin:6px}.sal ' +
  'img{width:84px;height:84px;image-rendering:pixelated;margin:2px}.note{background:#fff8e6;border-left:4px ' +
  'solid #e0a100;padding:8px 12px}';

function heat(v: Float32Array, h: number, w: number): Buffer {
  const m = Math.max(...v) || 1;
  return encodePng(
    Float32Array.from(v, (x) => x / m),
    h,
    w,
    1,
  );
}

/** `replicate ma --detectors`: per (dataset, model, ε), detectors × test attacks, AUC beside the paper's > 98 %. */
function renderDetection(d: MaDetection): string {
  const cell = (v: number | null, n: number, ok: boolean | null): string =>
    `<td class="${ok ? 'ok' : ok === false ? 'no' : ''}">${v === null ? '—' : v.toFixed(3)} <small>(${n})</small></td>`;
  const tables = maDetectionGroups(d)
    .map(
      (g) =>
        `<h3>${esc(g.dataset)} · ${esc(g.model)} · ε = ${esc(g.epsText)} ` +
        `(${g.epsRole === 'paper' ? "the paper's ε" : 'matched ε'})</h3><p>${esc(g.fit)}.</p>` +
        `<table class="detection-auc"><tr><th>detector</th>${d.testAttacks.map((a) => `<th>${esc(a)}</th>`).join('')}` +
        `<th>paper</th></tr>${d.detectors
          .map(
            (det) =>
              `<tr><td>${esc(det)}</td>${d.testAttacks
                .map((a) => {
                  const x = g.rows.find((y) => y.detector === det && y.attack === a);
                  return x ? cell(x.auc, x.n, x.meetsClaim) : '<td>—</td>';
                })
                .join('')}<td>&gt; 0.98</td></tr>`,
          )
          .join('')}</table>`,
    )
    .join('');
  const judged = d.rows.filter((x) => x.meetsClaim !== null);
  return (
    `<h2 id="detection">Detection AUC beside the paper's &gt; 98 %</h2><p class="note"><b>Protocol.</b> ` +
    `${esc(d.protocol)}. Fitted on ${esc(d.trainAttack)} (≤ ${d.fitLimit} train images), tested on ` +
    `${d.testAttacks.map(esc).join(', ')} (${d.limit ?? 'all'} test images). Cells: ROC AUC (number of test ` +
    `pairs); green = above the paper's 0.98. ${judged.filter((x) => x.meetsClaim).length}` +
    ` of ${judged.length} cells reach it.</p>${tables}` +
    `${d.notes.length ? `<ul>${d.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}`
  );
}

export async function renderReplication(r: ReplicationReport): Promise<string> {
  const pct = (v: number | null | undefined): string =>
    v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)} %`;
  const metric = r.paper === 'finlayson' ? 'robust accuracy' : 'attack success rate';
  const value = (s: { robustAccuracy: number; attackSuccessRate: number | null }): number | null =>
    r.paper === 'finlayson' ? s.robustAccuracy : s.attackSuccessRate;
  const table =
    `<table id="replication"><tr><th>dataset</th><th>model</th><th>attack</th><th>clean acc.</th><th>` +
    `${metric} at ${r.paper === 'finlayson' ? '16/255' : "the paper's ε"}</th><th>paper's ` +
    `headline</th><th>smallest ε matching it</th></tr>` +
    r.rows
      .map(
        (row) =>
          `<tr><td>${esc(row.dataset)}</td><td>${esc(row.model)}</td><td>${esc(row.attack)}</td><td>` +
          `${pct(row.runs[0]?.cleanAccuracy)}</td><td>${row.atPaperEps ? pct(value(row.atPaperEps)) : '—'}` +
          `${row.paperEps ? ` (ε=${esc(row.paperEps)})` : ''}</td><td>` +
          `${r.paper === 'finlayson' ? '≈ 0 %' : '> 99 %'}</td><td class="${row.matchesAt ? 'ok' : 'no'}` +
          `">${row.matchesAt ? esc(row.matchesAt) : 'not reached'}</td></tr>`,
      )
      .join('') +
    `</table>`;
  const sweep = r.rows.flatMap((row) =>
    row.runs.map((s) => ({
      series: `${row.dataset} · ${row.model} · ${row.attack}`,
      eps: s.eps * 255,
      value: value(s),
    })),
  );
  const charts: string[] = [];
  charts.push(
    await renderSvg({
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: `${metric} against ε (PGD-20 unless stated)`,
      width: 460,
      height: 280,
      data: { values: sweep },
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'eps',
          type: 'quantitative',
          scale: { type: 'log', domain: [0.5, 16] },
          title: 'ε (grey levels out of 255, log scale)',
        },
        y: { field: 'value', type: 'quantitative', scale: { domain: [0, 1] }, title: metric },
        color: { field: 'series', type: 'nominal', title: null, legend: { labelLimit: 0 } },
      },
    } as VegaLiteSpec),
  );
  if (r.classes?.length)
    charts.push(
      await renderSvg({
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: 'Success against number of classes (Ma, finding 1)',
        width: 300,
        height: 200,
        data: { values: r.classes },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'classes', type: 'ordinal', title: 'classes' },
          y: {
            field: 'attackSuccessRate',
            type: 'quantitative',
            scale: { domain: [0, 1] },
            title: 'attack success rate',
          },
        },
      } as VegaLiteSpec),
    );
  if (r.capacity?.length)
    charts.push(
      await renderSvg({
        $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
        title: 'Success against model capacity (Ma, finding 2)',
        width: 300,
        height: 200,
        data: { values: r.capacity },
        mark: 'bar',
        encoding: {
          x: { field: 'model', type: 'nominal', sort: null, title: null },
          y: {
            field: 'attackSuccessRate',
            type: 'quantitative',
            scale: { domain: [0, 1] },
            title: 'attack success rate',
          },
        },
      } as VegaLiteSpec),
    );
  const sal = r.saliency
    ? `<h2>Where perturbations fall (Ma, finding 3)</h2><p>${esc(r.saliency.model)} on ` +
      `${esc(r.saliency.dataset)}: ${(r.saliency.massOnTopSalient * 100).toFixed(1)} % of the PGD ` +
      `perturbation's L1 mass lies on the 20 % most salient pixels (|∇ₓ CE| at the clean image; 20 % if ` +
      `unrelated); mean per-image correlation of |δ| with saliency ${r.saliency.correlation.toFixed(3)}` +
      `.</p><div class="sal" id="saliency">` +
      r.saliency.examples
        .map(
          (e) =>
            `<div><img alt="image ${e.index}" src="data:image/png;base64,` +
            `${encodePng(e.image, e.shape[0], e.shape[1], e.shape[2]).toString('base64')}"><img alt="saliency ` +
            `${e.index}" src="data:image/png;base64,` +
            `${heat(e.saliency, e.shape[0], e.shape[1]).toString('base64')}"><img alt="perturbation ` +
            `${e.index}" src="data:image/png;base64,` +
            `${heat(e.perturbation, e.shape[0], e.shape[1]).toString('base64')}` +
            `"> image · saliency · |δ| (#${e.index})</div>`,
        )
        .join('') +
      `</div>`
    : '';
  const extra = [
    r.classes?.length
      ? `<h2>Success against number of classes</h2><table id="classes"><tr><th>classes</th><th>clean ` +
        `acc.</th><th>success</th><th>ε</th></tr>` +
        r.classes
          .map(
            (c) =>
              `<tr><td>${c.classes}</td><td>${pct(c.cleanAccuracy)}</td><td>` +
              `${pct(c.attackSuccessRate)}</td><td>${esc(c.eps)}</td></tr>`,
          )
          .join('') +
        `</table>`
      : '',
    r.capacity?.length
      ? `<h2>Success against model capacity</h2><table ` +
        `id="capacity"><tr><th>model</th><th>parameters</th><th>clean acc.</th><th>success</th><th>ε</th></tr>` +
        r.capacity
          .map(
            (c) =>
              `<tr><td>${esc(c.model)}</td><td>${c.parameters.toLocaleString('en')}</td><td>` +
              `${pct(c.cleanAccuracy)}</td><td>${pct(c.attackSuccessRate)}</td><td>${esc(c.eps)}</td></tr>`,
          )
          .join('') +
        `</table>`
      : '',
  ].join('');
  return (
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="Content-Security-Policy" ` +
    `content="default-src 'none'; img-src data:; style-src 'unsafe-inline'"><title>${esc(r.title)}</title><style>` +
    `${CSS}</style></head><body>
<h1>${esc(r.title)}</h1><div class="tags"><span>MITRE ATLAS ${THREAT_TAGS.mitreAtlas.id} — ` +
    `${THREAT_TAGS.mitreAtlas.name}</span><span>NIST AI 100-2: evasion ` +
    `(${r.blackbox ? 'black-box transfer, physical patch' : 'white-box'})</span>` +
    `${r.quick ? '<span>--quick run</span>' : ''}</div>
<p><b>Paper's headline:</b> ${esc(r.headline)}</p><p class="note">${esc(RESOLUTION)}</p>
${
  r.rows.length
    ? `<h2>Results beside the headline</h2>${table}
<div id="charts">${charts.map((c) => `<div class="chart">${c}</div>`).join('')}</div>`
    : ''
}${extra}${sal}${r.blackbox ? await renderBlackbox(r.blackbox) : ''}${r.detection ? renderDetection(r.detection) : ''}
${r.notes.length ? `<h2>Notes</h2><ul>${r.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
<h2>Provenance</h2><p>medshield ${esc(VERSION)}${gitCommit() ? ` (commit ${esc(gitCommit())})` : ''}; ` +
    `${r.seconds.toFixed(0)} s; regenerate with <code>${esc(r.command)}</code></p>
<script type="application/json" id="report-data">${JSON.stringify({
      ...r,
      saliency: r.saliency
        ? { massOnTopSalient: r.saliency.massOnTopSalient, correlation: r.saliency.correlation }
        : undefined,
      blackbox: r.blackbox?.map((b) => ({ ...b, patches: b.patches.map(({ patch: _p, ...rest }) => rest) })),
    }).replace(/</g, '\\u003c')}</script>
</body></html>`
  );
}

export async function writeReplication(file: string, r: ReplicationReport): Promise<void> {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, await renderReplication(r));
}
