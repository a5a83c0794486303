/**
 * The self-contained HTML attack report: no script, no external resource — charts are inline SVG
 * rendered from Vega-Lite by `charts.ts`, images are PNG data URIs, styles are inline. Open it
 * anywhere, offline, and print it for a safety board.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { AttackReport } from './schema.js';
import { componentsSpec, epsilonSweepSpec, qualitySpec, queryCurveSpec, renderSvg, stepSweepSpec } from './charts.js';
import { findings } from './summary.js';

export function esc(s: unknown): string {
  return String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

const fmt = (v: number | null | undefined, digits = 4): string =>
  v === null || v === undefined || Number.isNaN(v) ? '—' : Number.isInteger(v) ? String(v) : v.toFixed(digits);

const CSS =
  `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 ` +
  `auto;max-width:1100px;padding:24px;color:#1b1f24;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}
.tags span{display:inline-block;background:#eef2f7;border:1px solid #c9d3df;border-radius:12px;padding:2px ` +
  `10px;margin:2px 6px 2px 0;font-size:.85em}
.finding{background:#fff8e6;border-left:4px solid #e0a100;padding:10px 14px;margin:8px 0}
table{border-collapse:collapse;font-size:.9em;margin:8px 0}th,td{border:1px solid #d0d7de;padding:4px ` +
  `8px;text-align:right}th{background:#f3f5f7}td:first-child,th:first-child{text-align:left}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{border:1px solid #e1e4e8;padding:6px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:14px}
.ex{border:1px solid #e1e4e8;padding:8px}.ex img{width:96px;height:96px;image-rendering:pixelated;border:1px solid #ccc}
.ex .imgs{display:flex;gap:6px}.ex .cap{font-size:.8em;text-align:center}.ex p{font-size:.85em;margin:.3em 0}
.notes li{color:#6a4a00}code{background:#f3f5f7;padding:1px 4px;border-radius:3px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:.9em}dt{font-weight:600}
`;

/** Build the report page. */
export async function renderHtml(report: AttackReport): Promise<string> {
  const p = report.provenance;
  const runs = report.runs;
  const clean = runs[0]?.cleanAccuracy ?? 0;
  const charts: Array<{ id: string; svg: string }> = [];
  const stepSweep =
    runs.length > 1 &&
    runs.every((r) => r.eps === runs[0].eps && r.attack === runs[0].attack) &&
    new Set(runs.map((r) => r.steps)).size === runs.length;
  if (stepSweep) charts.push({ id: 'chart-steps', svg: await renderSvg(stepSweepSpec(runs)) });
  else if (runs.length) charts.push({ id: 'chart-eps', svg: await renderSvg(epsilonSweepSpec(runs, clean)) });
  if (runs.some((r) => r.meanSSIM !== null)) charts.push({ id: 'chart-ssim', svg: await renderSvg(qualitySpec(runs)) });
  for (const r of runs.filter((x) => x.components?.length))
    charts.push({ id: `chart-components-${charts.length}`, svg: await renderSvg(componentsSpec(r)) });
  if (runs.some((r) => r.queryCurve?.length))
    charts.push({ id: 'chart-queries', svg: await renderSvg(queryCurveSpec(runs)) });
  const queries = runs.some((r) => r.meanQueries !== undefined);

  const table =
    `<table id="results"><thead><tr><th>attack</th><th>norm</th><th>ε</th><th>steps</th><th>n</th><th>clean ` +
    `acc.</th><th>robust acc.</th><th>success rate</th>` +
    `${runs.some((r) => r.targetedSuccessRate !== undefined) ? '<th>targeted success</th>' : ''}` +
    `${runs.some((r) => r.aucUnderAttack !== undefined) ? '<th>AUC clean → attacked</th>' : ''}<th>mean ` +
    `L∞</th><th>mean L2</th><th>median L0</th><th>mean SSIM</th><th>mean PSNR (dB)</th>` +
    `${queries ? '<th>queries mean / median (budget)</th>' : ''}` +
    `<th>seconds</th><th>images/s</th></tr></thead><tbody>` +
    runs
      .map(
        (r) =>
          `<tr><td>${esc(r.attack)}</td><td>${esc(r.norm)}</td><td>${esc(r.epsText)}</td><td>${r.steps}` +
          `</td><td>${r.n}</td><td>${fmt(r.cleanAccuracy)}</td><td>${fmt(r.robustAccuracy)}</td><td>` +
          `${fmt(r.attackSuccessRate)}</td>` +
          `${runs.some((x) => x.targetedSuccessRate !== undefined) ? `<td>${fmt(r.targetedSuccessRate)}</td>` : ''}` +
          (runs.some((x) => x.aucUnderAttack !== undefined)
            ? `<td>${fmt(r.cleanAuc)} → ${fmt(r.aucUnderAttack)}</td>`
            : '') +
          `<td>${fmt(r.meanLinf)}</td><td>${fmt(r.meanL2)}</td><td>${fmt(r.medianL0, 0)}</td><td>` +
          `${fmt(r.meanSSIM)}</td><td>${fmt(r.meanPSNR, 2)}</td>` +
          (queries
            ? `<td>${fmt(r.meanQueries ?? null, 1)} / ${fmt(r.medianQueries ?? null, 0)} (${r.maxQueries ?? '—'})</td>`
            : '') +
          `<td>${fmt(r.seconds, 2)}</td><td>${fmt(r.imagesPerSecond, 1)}</td></tr>`,
      )
      .join('') +
    `</tbody></table>`;

  const components = runs
    .filter((r) => r.components?.length)
    .map(
      (r) =>
        `<h3>AutoAttack at ε = ${esc(r.epsText)}</h3><table class="components"><tr><th>after ` +
        `component</th><th>robust accuracy</th><th>success rate</th></tr>` +
        r
          .components!.map(
            (c) =>
              `<tr><td>${esc(c.name)}</td><td>${fmt(c.robustAccuracy)}</td><td>${fmt(c.attackSuccessRate)}</td></tr>`,
          )
          .join('') +
        `<tr><td><b>worst case</b></td><td><b>${fmt(r.robustAccuracy)}` +
        `</b></td><td><b>${fmt(r.attackSuccessRate)}</b></td></tr></table>`,
    )
    .join('');

  const perClass = runs
    .map((r, i) =>
      (report.perClass[i] ?? [])
        .map(
          (c) =>
            `<tr><td>${esc(r.attack)} ε=${esc(r.epsText)}</td><td>${esc(c.className)}</td><td>${c.correct}` +
            `</td><td>${c.flipped}</td><td>${c.correct ? fmt(c.flipped / c.correct) : '—'}</td></tr>`,
        )
        .join(''),
    )
    .join('');

  const grid = report.examples
    .map(
      (e) =>
        `<figure class="ex"><div class="imgs">` +
        (['original', 'adversarial', 'difference'] as const)
          .map(
            (k) =>
              `<div><img alt="${k} image ${e.index}" src="data:image/png;base64,${e[k]}"><div ` +
              `class="cap">${k === 'difference' ? 'difference (amplified)' : k}</div></div>`,
          )
          .join('') +
        `</div><p>#${e.index} · ${esc(e.attack)} ε=${esc(e.epsText)} · true: <b>${esc(e.label)}` +
        `</b></p><p>clean: ${esc(e.cleanPrediction)} (${(e.cleanConfidence * 100).toFixed(1)}` +
        ` %) → attacked: <b>${esc(e.adversarialPrediction)}</b> (` +
        `${(e.adversarialConfidence * 100).toFixed(1)} %) · L∞ ${fmt(e.linf * 255, 1)}/255</p></figure>`,
    )
    .join('');

  const notes = [...new Set([...report.notes, ...runs.flatMap((r) => r.notes)])];
  const t = report.threat;
  return (
    `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${esc(report.title)}</title><style>${CSS}</style></head><body>
<h1>${esc(report.title)}</h1>
<div class="tags" id="tags"><span title="${esc(t.mitreAtlas.url)}">MITRE ATLAS ${esc(t.mitreAtlas.id)} — ` +
    `${esc(t.mitreAtlas.name)}</span><span>NIST AI 100-2: ${esc(t.nist.term)} (` +
    `${esc(knowledgeTag(runs, t.nist.knowledge))})</span><span>model: ${esc(p.model.name)}</span><span>dataset: ` +
    `${esc(p.dataset.name)}/${esc(p.dataset.split)}</span></div>
<h2>Summary for clinicians</h2>
<div id="summary">${findings(report)
      .map((f) => `<p class="finding">${esc(f)}</p>`)
      .join('')}
<p>These are <b>evasion</b> attacks ${knowledge(runs)}: an attacker who can alter an image file between the scanner ` +
    `and the model can change its diagnosis while a radiologist sees the same picture. The perturbations were ` +
    `computed on ${esc(p.dataset.resolution)} images; at ${esc(p.dataset.resolution)} a given ε in grey levels is a ` +
    `larger relative change than on full-resolution images (a perturbation's L2 size grows with the square root of ` +
    `the pixel count).</p></div>
<h2>Robustness curves</h2><div class="charts">` +
    `${charts.map((c) => `<div class="chart" id="${c.id}">${c.svg}</div>`).join('')}</div>
<h2>Results</h2>${table}${components}
${
  perClass
    ? '<h3>Per class (among correctly classified images)</h3><table id="per-class"><tr><th>run</th><th>class</th>' +
      `<th>correct</th><th>flipped</th><th>fraction flipped</th></tr>${perClass}</table>`
    : ''
}
<h2>Examples</h2><p>Original, adversarial and the difference amplified to the full grey range (mid-grey: unchanged). ` +
    `Images are shown enlarged without smoothing.</p><div class="grid" id="examples">${grid || '<p>No examples.</p>'}` +
    `</div>
${notes.length ? `<h2>Notes</h2><ul class="notes">${notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}
<h2>Provenance</h2><dl id="provenance">
<dt>model</dt><dd>${esc(p.model.name)} — ${esc(p.model.architecture)} (width ${p.model.width}, ` +
    `${p.model.parameters.toLocaleString('en')} parameters), trained on ${esc(p.model.dataset)} ` +
    `(${esc(p.model.task)}: ${esc(p.model.classes.join(', '))}); card test accuracy ${fmt(p.model.testAccuracy)}, ` +
    `AUC ${fmt(p.model.testAuc)}; created ${esc(p.model.createdAt)}` +
    `${p.model.trainingSeed !== undefined ? `, training seed ${p.model.trainingSeed}` : ''}; ` +
    `path <code>${esc(p.model.path)}</code></dd>
<dt>dataset</dt><dd>${esc(p.dataset.name)} split ${esc(p.dataset.split)}, ${p.dataset.n} images` +
    `${p.dataset.limit ? ` (seeded sample of ${p.dataset.limit})` : ''}, ${esc(p.dataset.resolution)}; ` +
    `sha256 <code>${esc(p.dataset.sha256)}</code></dd>
<dt>seed</dt><dd>${p.seed}</dd>
<dt>medshield</dt><dd>${esc(p.medshieldVersion)}` +
    `${p.gitCommit ? ` (commit <code>${esc(p.gitCommit)}</code>)` : ''}, engine ${esc(p.engine)}</dd>
<dt>created</dt><dd>${esc(p.createdAt)}</dd>
<dt>regenerate</dt><dd><code id="command">${esc(p.command)}</code></dd>
<dt>standards</dt><dd>${esc(t.nist.document)}; MITRE ATLAS ${esc(t.mitreAtlas.id)} (${esc(t.mitreAtlas.name)})</dd>
</dl>
<script type="application/json" id="report-data">${JSON.stringify({
      ...report,
      examples: report.examples.map(({ original: _o, adversarial: _a, difference: _d, ...m }) => m),
    }).replace(/</g, '\\u003c')}</script>
</body></html>
`
  );
}

export async function writeHtml(file: string, report: AttackReport): Promise<void> {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, await renderHtml(report));
}

/** What the attacker knew, in words a clinician reads. */
function knowledge(runs: AttackReport['runs']): string {
  const kinds = new Set(runs.map((r) => r.threatModel ?? 'whitebox'));
  const words: Record<string, string> = {
    whitebox: 'with full (white-box) knowledge of the model',
    score: "that only saw the model's output probabilities (score-based black box, counted queries)",
    decision: "that only saw the model's decisions (label-only black box, counted queries)",
    transfer: 'crafted on a model the attacker trained independently, then sent to this one (transfer black box)',
  };
  return [...kinds].map((k) => words[k] ?? k).join('; ');
}

/** NIST AI 100-2 knowledge level of the runs: white-box unless every run was a black-box one. */
function knowledgeTag(runs: AttackReport['runs'], whitebox: string): string {
  const tags: Record<string, string> = {
    score: 'black-box, score-based',
    decision: 'black-box, decision-based',
    transfer: 'black-box, transfer',
  };
  const kinds = [...new Set(runs.map((r) => r.threatModel ?? 'whitebox'))];
  return kinds.map((k) => tags[k] ?? whitebox).join('; ');
}
