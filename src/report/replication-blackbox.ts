/**
 * The black-box part of the Finlayson replication report: transfer PGD beside white-box PGD over ε,
 * and the three patch kinds beside the paper's Table 1 (accuracy under a patch of scale 0.4).
 */
import type { BlackboxRow } from '../studies/replicate-blackbox.js';
import { renderSvg, type VegaLiteSpec } from './charts.js';
import { esc } from './html.js';
import { encodePng } from '../eval/examples.js';

const f = (v: number | null | undefined): string => (v === null || v === undefined ? '—' : v.toFixed(4));

export async function renderBlackbox(rows: BlackboxRow[]): Promise<string> {
  const out: string[] = [
    '<h2>Black box: transfer from an independently trained surrogate</h2>',
    '<p>Finlayson et al. define the black-box attacker as one who trains their own model on the same task ' +
      'and sends the adversarial images it yields (PGD) to the target. The surrogate here is trained with ' +
      'another seed (and sample of the training set); the target never answers a query during crafting.</p>',
  ];
  const values = rows.flatMap((r) =>
    r.transfer.flatMap((t) => [
      { series: `${r.dataset} · transfer`, eps: Number(t.eps.split('/')[0]), robustAccuracy: t.robustAccuracy },
      {
        series: `${r.dataset} · white-box`,
        eps: Number(t.eps.split('/')[0]),
        robustAccuracy: t.whiteboxRobustAccuracy,
      },
    ]),
  );
  out.push(
    `<div class="chart">${await renderSvg({
      $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
      title: 'Robust accuracy: transfer PGD-20 vs white-box PGD-20',
      width: 460,
      height: 260,
      data: { values },
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'eps',
          type: 'quantitative',
          scale: { type: 'log', domain: [2, 16] },
          title: 'ε (grey levels out of 255, log scale)',
        },
        y: { field: 'robustAccuracy', type: 'quantitative', scale: { domain: [0, 1] }, title: 'robust accuracy' },
        color: { field: 'series', type: 'nominal', title: null, legend: { labelLimit: 0 } },
      },
    } as VegaLiteSpec)}</div>`,
  );
  for (const r of rows) {
    out.push(
      `<h3>${esc(r.dataset)}${r.domain ? ` (the paper's ${r.domain.toUpperCase()} domain)` : ''}` +
        `</h3><p>target ${esc(r.target)} (clean accuracy ${f(r.cleanAccuracy)}), surrogate ` +
        `${esc(r.surrogate)} (clean accuracy ${f(r.surrogateCleanAccuracy)}), n = ${r.n} test images.</p>`,
    );
    out.push(
      `<table class="transfer"><tr><th>ε</th><th>transfer robust acc.</th><th>transfer ` +
        `success</th><th>white-box robust acc.</th><th>white-box success</th></tr>` +
        r.transfer
          .map(
            (t) =>
              `<tr><td>${esc(t.eps)}</td><td>${f(t.robustAccuracy)}</td><td>${f(t.attackSuccessRate)}` +
              `</td><td>${f(t.whiteboxRobustAccuracy)}</td><td>${f(t.whiteboxSuccessRate)}</td></tr>`,
          )
          .join('') +
        `</table>`,
    );
    out.push(
      `<table class="patches"><tr><th>patch</th><th>scale</th><th>n</th><th>clean acc.</th><th>accuracy ` +
        `with patch</th><th>success</th><th>paper (scale 0.4)</th><th>patch</th></tr>` +
        r.patches
          .map(
            (p) =>
              `<tr><td>${esc(p.mode)}</td><td>${p.scale}</td><td>${p.n}</td><td>${f(p.cleanAccuracy)}` +
              `</td><td>${f(p.patchedAccuracy)}</td><td>${f(p.attackSuccessRate)}</td><td>` +
              `${r.paper ? f(r.paper[p.mode]) : '—'}</td><td>` +
              (p.patch
                ? `<img alt="${esc(p.mode)} patch" style="width:56px;height:56px;image-rendering:pixelated" ` +
                  `src="data:image/png;base64,` +
                  `${encodePng(p.patch, p.patchSize, p.patchSize, p.channels).toString('base64')}">`
                : '') +
              `</td></tr>`,
          )
          .join('') +
        `</table>`,
    );
  }
  return out.join('\n');
}
