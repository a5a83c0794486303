/**
 * HTML for the defence scorecard (issue #10, `medshield.scorecard/1`): for a clinician or an auditor,
 * every defence and detector against the attacker who does not know it and the attacker who does
 * (adaptive: BPDA, EOT, joint detector losses — Athalye, Carlini & Wagner, ICML 2018; Tramer et al.,
 * NeurIPS 2020), the sanity checks of Carlini et al. 2019, a verdict per row, and the conclusion in
 * plain words with Amit et al.'s recommendation (signed images, a hardened gateway).
 * Self-contained like the other reports: inline SVG charts from Vega-Lite, PNG data URIs, no script.
 *
 * Usage: `await writeScorecardReport('scorecard.html', card, { command: 'medshield scorecard …' })`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Scorecard, ScorecardRow, Verdict } from '../eval/scorecard-types.js';
import { badInput } from '../errors.js';
import { renderSvg, type VegaLiteSpec } from './charts.js';
import { esc } from './html.js';
import { VERSION, gitCommit } from '../version.js';

const CSS =
  `
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1180px;margin:0 ` +
  `auto;padding:24px;color:#1b1f24;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2em;margin-top:1.6em}h3{marg` +
  `in-bottom:.3em}
.sub{color:#57606a;margin-top:0}
.conclusion{border:1px solid #d0d7de;border-left:6px solid #b42318;background:#fff5f4;padding:10px 16px;margin:12px 0}
.conclusion.ok{border-left-color:#b07800;background:#fffaf0}
.conclusion p{margin:.5em 0}.lead{font-size:1.12em}
.next{border:1px solid #d0d7de;border-left:6px solid #1f6feb;background:#f3f8ff;padding:10px 16px;margin:12px 0}
.next li{margin:.25em 0}
.rule{background:#f6f8fa;border:1px solid #d0d7de;padding:8px 12px}
table{border-collapse:collapse;font-size:.86em;margin:8px 0}th,td{border:1px solid #d0d7de;padding:4px ` +
  `7px;text-align:right;vertical-align:top}
.wide{overflow-x:auto}#scorecard{font-size:.8em}#scorecard th,#scorecard td{padding:3px 4px}#scorecard thead ` +
  `th{font-weight:600}#scorecard td{white-space:nowrap}#scorecard td.att,#scorecard ` +
  `td.name{white-space:normal}#scorecard td.att{min-width:6em}#scorecard .badge{font-size:.85em;padding:1px 6px}
th{background:#f3f5f7}td.l,th.l{text-align:left}thead th{vertical-align:bottom}
td.att{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.92em;text-align:left}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-weight:600;font-size:.9em;color:#fff;white-space:` +
  `nowrap}
.badge.broken{background:#b42318}.badge.weakened{background:#b07800}.badge.holds{background:#1a7f37}
.ok{color:#1a7f37}.bad{color:#b42318}.warn{color:#9a6700;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{border:1px solid #e1e4e8;padding:6px}
.cap{font-size:.85em;color:#57606a;max-width:1100px}
.exrow{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:10px}
.ex{border:1px solid #e1e4e8;padding:8px;margin:0;font-size:.82em}.ex .imgs{display:flex;gap:6px}
.ex img{width:112px;height:112px;image-rendering:pixelated;border:1px solid #ccc;display:block}
.ex .c{text-align:center;color:#57606a}.ex p{margin:.3em 0}
.checks td:nth-child(3){text-align:left;max-width:620px}.checks td:nth-child(4){text-align:left;font-family:ui-monosp` +
  `ace,Menlo,monospace;font-size:.9em}
.notes li{color:#6a4a00}code{background:#f3f5f7;padding:1px 4px;border-radius:3px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:.9em}dt{font-weight:600}dd{margin:0}
`;

const PNG_DATA_URL = /^data:image\/png;base64,[A-Za-z0-9+/]+={0,2}$/;
const VERDICTS: Verdict[] = ['broken', 'weakened', 'holds'];
const COLOURS = { clean: '#8c959f', nonAdaptive: '#4c78a8', adaptive: '#d62728' };
const LABEL = {
  clean: 'no attack',
  nonAdaptive: 'attacker unaware of the defence',
  adaptive: 'attacker who knows it (adaptive)',
};

const pct = (v: number | null | undefined): string =>
  v === null || v === undefined || Number.isNaN(v) ? '—' : `${(v * 100).toFixed(1)}\u00a0%`;
const num = (v: number | null | undefined, digits = 3): string =>
  v === null || v === undefined || Number.isNaN(v) ? '—' : v.toFixed(digits);
const value = (v: number): string =>
  Number.isInteger(v)
    ? String(v)
    : Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5
      ? String(Number(v.toPrecision(4)))
      : v.toExponential(3);
const list = (names: string[]): string =>
  names.length <= 1 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
const codes = (rows: ScorecardRow[]): string => list(rows.map((r) => `<code>${esc(r.defence)}</code>`));
/** Escaped, with line-break opportunities after the separators of defence specs and attack names. */
const breakable = (s: string): string => esc(s).replace(/([:,+])/g, '$1<wbr>');
const badge = (v: Verdict): string => `<span class="badge ${esc(v)}">${esc(v)}</span>`;
const _kindWord = (k: ScorecardRow['kind']): string => (k === 'detector' ? 'detector' : 'defence');
const plural = (n: number, one: string, many: string = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** Reject anything the page could not show offline, before building it. */
function check(card: Scorecard): void {
  if (card?.schema !== 'medshield.scorecard/1')
    throw badInput(`scorecard: expected schema 'medshield.scorecard/1', got ${JSON.stringify(card?.schema ?? null)}`);
  if (!Array.isArray(card.rows)) throw badInput('scorecard: rows must be an array');
  for (const r of card.rows) {
    if (!VERDICTS.includes(r.verdict))
      throw badInput(
        `scorecard row '${r.defence}': verdict must be broken, weakened or holds, got ${JSON.stringify(r.verdict)}`,
      );
    r.examples.forEach((e, i) => {
      for (const k of ['clean', 'adversarial'] as const) {
        if (typeof e[k] !== 'string' || !PNG_DATA_URL.test(e[k]))
          throw badInput(
            `scorecard row '${r.defence}' example ${i}: ${k} image must be a PNG ` +
              `data URL (data:image/png;base64,…), got '${String(e[k]).slice(0, 40)}'`,
          );
      }
    });
  }
}

/**
 * Undefended model under the non-adaptive attack: fraction of correctly diagnosed images it flips (≈ 1 − robust/clean).
 */
function baselineFooled(card: Scorecard): number | null {
  const b = card.baseline;
  if (b.fooledAndUndetected !== undefined) return b.fooledAndUndetected;
  return b.cleanAccuracy > 0 ? Math.min(1, Math.max(0, 1 - b.robustAccuracy / b.cleanAccuracy)) : null;
}

/** The conclusion at the top, in words a clinician reads. */
function conclusion(card: Scorecard): string {
  const rows = card.rows;
  const by = (v: Verdict): ScorecardRow[] => rows.filter((r) => r.verdict === v);
  const broken = by('broken');
  const weakened = by('weakened');
  const holds = by('holds');
  const detectors = rows.filter((r) => r.kind === 'detector').length;
  const defences = rows.length - detectors;
  const what = [defences ? plural(defences, 'defence') : '', detectors ? plural(detectors, 'detector') : '']
    .filter(Boolean)
    .join(' and ');
  const setting =
    `${esc(card.model.name)} on ${esc(card.dataset)} (${esc(card.split)} split, ` +
    `${card.n} images, perturbations up to ε = ${esc(card.epsText)} in L∞)`;
  const parts: string[] = [];
  if (!rows.length) {
    parts.push(`<p class="lead">No defence or detector was evaluated on ${setting}.</p>`);
  } else {
    parts.push(
      `<p class="lead" id="counts">Of the ${what} tested on ${setting}: <b>${broken.length} broken</b>, <b>` +
        `${weakened.length} weakened</b>, <b>${holds.length} ${holds.length === 1 ? 'holds' : 'hold'}</b>.</p>`,
    );
    const named = VERDICTS.map((v) => [v, by(v)] as const)
      .filter(([, rs]) => rs.length)
      .map(([v, rs]) => `${badge(v)} ${codes(rs)}`);
    parts.push(`<p>${named.join(' · ')}</p>`);
    const worst = [...rows].sort((a, b) => b.adaptive.fooledAndUndetected - a.adaptive.fooledAndUndetected)[0];
    if (worst.adaptive.fooledAndUndetected > 0) {
      parts.push(
        `<p>An attacker who knows the defence turned up to <b>${pct(worst.adaptive.fooledAndUndetected)}</b> ` +
          `of correct diagnoses into wrong ones ` +
          `${worst.kind === 'detector' ? 'without the detector raising an alarm' : 'despite the defence'} ` +
          `(<code>${esc(worst.defence)}</code>, ${esc(worst.adaptive.attack)}), ` +
          `against ${pct(worst.nonAdaptive.fooledAndUndetected)} for an attacker who did not know it.${(() => {
            const b = baselineFooled(card);
            return b === null ? '' : ` Without any defence the standard attack flipped about ${pct(b)}.`;
          })()}</p>`,
      );
    }
    const understated = rows.filter((r) => r.adaptive.fooledAndUndetected > r.nonAdaptive.fooledAndUndetected);
    if (understated.length)
      parts.push(
        `<p>For ${understated.length} of ${rows.length} the usual, non-adaptive evaluation ` +
          `understated the risk: the adaptive attacker fooled the pipeline more often.</p>`,
      );
    const masked = rows.filter((r) => r.gradientMasking);
    if (masked.length)
      parts.push(
        `<p><span class="warn">Gradient masking:</span> ${codes(masked)} looked robust against the ` +
          `standard attack but failed a sanity check — the attack was blunted, not the threat removed.</p>`,
      );
    const solid = holds.filter((r) => r.sanity.passed);
    const shaky = holds.filter((r) => !r.sanity.passed);
    if (solid.length)
      parts.push(
        `<p id="holds-honest">${codes(solid)} held against the adaptive attacker and passed ` +
          `every sanity check. That is a real result, but only for this ε, these attacks and these ` +
          `${card.n} images${card.quick ? ' (a quick run)' : ''}: it means “not broken by us”, ` +
          `not “safe”. A stronger or differently designed adaptive attack may still succeed.</p>`,
      );
    if (shaky.length)
      parts.push(
        `<p>${codes(shaky)} held, but failed a sanity check (` +
          `${list([...new Set(shaky.flatMap((r) => r.sanity.failures))].map((f) => esc(f)))}), so ` +
          `the evaluation itself is not trustworthy for ${shaky.length === 1 ? 'it' : 'them'}.</p>`,
      );
  }
  parts.push(
    `<p id="amit">This is Amit et al.’s finding on the adversarial robustness of medical ` +
      `imaging AI: every defence falls to an informed attacker who knows it. A defence or ` +
      `detector inside the model is therefore not a safeguard on its own` +
      `${holds.length && !broken.length && !weakened.length ? ', even when, as here, none was broken' : ''}.</p>`,
  );
  const bad = broken.length + weakened.length > 0;
  return (
    `<div class="conclusion${bad ? '' : ' ok'}" id="conclusion">${parts.join('\n')}</div>
<div class="next" id="recommendation"><p><b>What to do instead:</b> harden the system around the model and sign ` +
    `every image from the scanner to the model, so that an altered image is rejected <i>before</i> the model sees it ` +
    `— no matter how cleverly the perturbation was computed.</p>
<ol>
<li>Sign DICOM images where they are acquired or archived: <code>medshield dicom sign</code> (DICOM PS3.15 digital ` +
    `signatures).</li>
<li>Check them on the way to the model: <code>medshield dicom verify</code>; unsigned, tampered or untrusted images ` +
    `are refused.</li>
<li>Put the model behind the medshield inference gateway (<code>medshield gateway</code> to set it up, ` +
    `<code>medshield serve</code> to run it): it verifies signatures before inference, admits only authenticated ` +
    `callers, flags the long runs of near-identical queries that black-box attacks need, and keeps a tamper-evident ` +
    `audit log.</li>
</ol>
<p>Keep a defence or detector only as an extra layer, never as the protection.</p></div>`
  );
}

/** Grouped bars: non-adaptive vs adaptive per row, with the undefended baseline as a dashed rule. */
function barsSpec(
  title: string,
  yTitle: string,
  values: Array<{ defence: string; attacker: string; value: number }>,
  order: string[],
  ref: { value: number; label: string } | null,
  width: number,
): VegaLiteSpec {
  const colours = order.map((o) =>
    o === LABEL.clean ? COLOURS.clean : o === LABEL.nonAdaptive ? COLOURS.nonAdaptive : COLOURS.adaptive,
  );
  const layers: unknown[] = [
    {
      data: { values },
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'defence', type: 'nominal', sort: null, title: null, axis: { labelAngle: -25, labelLimit: 400 } },
        xOffset: { field: 'attacker', type: 'nominal', sort: order },
        y: { field: 'value', type: 'quantitative', title: yTitle, scale: { domain: [0, 1] }, axis: { format: '.0%' } },
        color: {
          field: 'attacker',
          type: 'nominal',
          title: null,
          sort: order,
          scale: { domain: order, range: colours },
          legend: { orient: 'bottom', direction: 'vertical', labelLimit: 0 },
        },
        tooltip: [{ field: 'defence' }, { field: 'attacker' }, { field: 'value', format: '.1%' }],
      },
    },
  ];
  if (ref) {
    layers.push({
      data: { values: [{ y: ref.value }] },
      mark: { type: 'rule', color: '#333', strokeDash: [5, 3], strokeWidth: 1.5 },
      encoding: { y: { field: 'y', type: 'quantitative' } },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, anchor: 'start', ...(ref ? { subtitle: `dashed line — ${ref.label}` } : {}) },
    width,
    height: 240,
    layer: layers,
  } as unknown as VegaLiteSpec;
}

async function charts(card: Scorecard): Promise<string> {
  if (!card.rows.length) return '<p>No rows to chart.</p>';
  const width = Math.max(320, Math.min(1000, card.rows.length * 80));
  const fooled = card.rows.flatMap((r) => [
    { defence: r.defence, attacker: LABEL.nonAdaptive, value: r.nonAdaptive.fooledAndUndetected },
    { defence: r.defence, attacker: LABEL.adaptive, value: r.adaptive.fooledAndUndetected },
  ]);
  const acc = card.rows.flatMap((r) => [
    { defence: r.defence, attacker: LABEL.clean, value: r.cleanAccuracy },
    { defence: r.defence, attacker: LABEL.nonAdaptive, value: r.nonAdaptive.robustAccuracy },
    { defence: r.defence, attacker: LABEL.adaptive, value: r.adaptive.robustAccuracy },
  ]);
  const bf = baselineFooled(card);
  const svgFooled = await renderSvg(
    barsSpec(
      'Diagnoses flipped without an alarm (lower is better)',
      'fooled and undetected',
      fooled,
      [LABEL.nonAdaptive, LABEL.adaptive],
      bf === null ? null : { value: bf, label: `no defence: ${pct(bf)} flipped` },
      width,
    ),
  );
  const svgAcc = await renderSvg(
    barsSpec(
      'Accuracy under attack (higher is better)',
      'accuracy',
      acc,
      [LABEL.clean, LABEL.nonAdaptive, LABEL.adaptive],
      {
        value: card.baseline.robustAccuracy,
        label: `no defence under ${card.baseline.attack}: ${pct(card.baseline.robustAccuracy)}`,
      },
      width,
    ),
  );
  return (
    `<div class="charts"><div class="chart" id="chart-fooled">${svgFooled}</div><div class="chart" ` +
    `id="chart-accuracy">${svgAcc}</div></div>
<p class="cap">Dashed line: the undefended model under the same non-adaptive attack ` +
    `(<code>${esc(card.baseline.attack)}</code>; clean accuracy ${pct(card.baseline.cleanAccuracy)}, ` +
    `accuracy under attack ${pct(card.baseline.robustAccuracy)}` +
    `${
      bf === null
        ? ''
        : `; flipped fraction of correct diagnoses ≈ 1 − ${pct(card.baseline.robustAccuracy)} / ` +
          `${pct(card.baseline.cleanAccuracy)} = ${pct(bf)}`
    }). A defence helps only where its red bar (the attacker who knows it) stays clearly below that line in the ` +
    `first chart and above it in the second.</p>`
  );
}

function table(card: Scorecard): string {
  const outcome = (o: ScorecardRow['adaptive'], cls: string): string =>
    `<td class="att ${cls}">${breakable(o.attack)}</td><td>${pct(o.robustAccuracy)}` +
    `</td><td title="${o.detectionAuc === null ? 'no detector' : ''}">${num(o.detectionAuc)}` +
    `</td><td>${pct(o.tprAt5Fpr)}</td><td><b>${pct(o.fooledAndUndetected)}</b></td>`;
  const head = (who: string): string => `<th colspan="5">${who}</th>`;
  const sub =
    '<th class="l">attack</th><th>robust acc.</th><th title="detection ' +
    'AUC">det. AUC</th><th>TPR at 5 % FPR</th><th>fooled &amp; undetected</th>';
  const body = card.rows
    .map(
      (r) =>
        `<tr class="row-${esc(r.verdict)}"><td class="l name"><code>${breakable(r.defence)}</code></td><td ` +
        `class="l">${esc(r.kind)}</td><td>${pct(r.cleanAccuracy)}</td>${outcome(r.nonAdaptive, 'na')}` +
        `${outcome(r.adaptive, 'ad')}<td class="l">` +
        (r.sanity.skipped
          ? `<span title="${esc(r.sanity.skipped)}">skipped (quick)</span>`
          : r.sanity.passed
            ? '<span class="ok" title="all sanity checks passed">✓</span>'
            : `<span class="bad">✗ ${esc(r.sanity.failures.join(', '))}</span>`) +
        `</td><td class="l">${r.gradientMasking ? '<span class="warn">⚠ yes</span>' : 'no'}` +
        `</td><td class="l">${badge(r.verdict)}</td></tr>`,
    )
    .join('');
  const base =
    `<tr class="baseline"><td class="l"><i>no defence</i></td><td class="l">—</td><td>` +
    `${pct(card.baseline.cleanAccuracy)}</td><td class="att">${esc(card.baseline.attack)}` +
    `</td><td>${pct(card.baseline.robustAccuracy)}</td><td>—</td><td>—</td><td>${pct(baselineFooled(card))}` +
    `</td><td colspan="5"></td><td colspan="3" class="l"><i>reference</i></td></tr>`;
  return (
    `<div class="wide"><table id="scorecard"><thead><tr><th class="l" rowspan="2">defence / detector</th>` +
    `<th class="l" rowspan="2">kind</th><th rowspan="2">clean acc.</th>` +
    `${head('attacker unaware of the defence (non-adaptive)')}${head('attacker who knows the defence (adaptive)')}` +
    `<th class="l" rowspan="2">sanity checks</th><th class="l" rowspan="2">gradient masking</th>` +
    `<th class="l" rowspan="2">verdict</th></tr><tr>${sub}${sub}</tr></thead><tbody>${body}</tbody>` +
    `<tfoot>${base}</tfoot></table></div>
<p class="cap"><b>Robust acc.</b>: fraction of all evaluated images the deployed pipeline still diagnoses correctly ` +
    `after the attack. <b>Det. AUC</b> (ROC AUC of the detector) and <b>TPR at 5 % FPR</b> ` +
    `(detectors only): how well the detector separates successful adversarial images from ` +
    `their originals, and the fraction it flags when set to raise a false alarm on 5 % of ` +
    `clean images. <b>Fooled &amp; undetected</b>: fraction of correctly diagnosed images that ` +
    `end misdiagnosed <i>and</i> are not flagged — the figure that matters for patients.</p>`
  );
}

function examples(card: Scorecard): string {
  const rows = card.rows.filter((r) => r.examples.length);
  if (!rows.length) return '<p>No adversarial image got through any defence or detector in this run.</p>';
  return rows
    .map((r) => {
      const passed = r.kind === 'detector' ? 'fooled the model and passed the detector' : 'fooled the defended model';
      return (
        `<h3><code>${esc(r.defence)}</code> ${badge(r.verdict)}</h3><p class="cap">${esc(r.adaptive.attack)}: ` +
        `images that ${passed}.</p><div class="exrow">` +
        r.examples
          .map(
            (e) =>
              `<figure class="ex"><div class="imgs"><div><img alt="clean image ${e.index}" src="` +
              `${e.clean}"><div class="c">clean</div></div><div><img alt="adversarial image ${e.index}` +
              `" src="${e.adversarial}"><div class="c">adversarial</div></div></div><p>#${e.index} · ` +
              `true: <b>${esc(e.label)}</b></p><p>model says: <b class="bad">${esc(e.predicted)}</b></p>` +
              (e.score === undefined
                ? ''
                : `<p>detector score: ${num(e.score, 4)}` +
                  `${r.detectorThreshold === undefined ? '' : ` (alarm above ${num(r.detectorThreshold, 4)})`}</p>`) +
              `</figure>`,
          )
          .join('') +
        `</div>`
      );
    })
    .join('\n');
}

function sanity(card: Scorecard): string {
  return card.rows
    .map(
      (r) =>
        `<h3><code>${esc(r.defence)}</code> — ${
          r.sanity.skipped
            ? `not run: ${esc(r.sanity.skipped)}`
            : r.sanity.passed
              ? '<span class="ok">all checks passed</span>'
              : `<span class="bad">failed: ${esc(r.sanity.failures.join(', '))}</span>`
        }</h3>
<p class="cap">${esc(r.reference)} · ${r.seconds.toFixed(1)} s</p>
${
  r.sanity.checks.length
    ? '<table class="checks"><thead><tr><th class="l">check</th><th class="l">result</th>' +
      `<th class="l">what was measured</th><th class="l">values</th></tr></thead><tbody>${r.sanity.checks
        .map(
          (c) =>
            `<tr><td class="l"><code>${esc(c.name)}</code></td><td class="l">` +
            `${c.passed ? '<span class="ok">✓ passed</span>' : '<span class="bad">✗ failed</span>'}</td>` +
            `<td>${esc(c.detail)}</td><td>${Object.entries(c.values)
              .map(([k, v]) => `${esc(k)} = ${esc(value(v))}`)
              .join('<br>')}</td></tr>`,
        )
        .join('')}</tbody></table>`
    : '<p>No sanity checks were run for this row.</p>'
}`,
    )
    .join('\n');
}

/** Build the scorecard page. */
export async function renderScorecard(card: Scorecard, meta: { command: string }): Promise<string> {
  check(card);
  const notes = [
    ...card.notes.map((n) => esc(n)),
    ...card.rows.flatMap((r) => r.notes.map((n) => `<code>${esc(r.defence)}</code>: ${esc(n)}`)),
  ];
  const commit = gitCommit();
  const data = JSON.stringify({
    ...card,
    rows: card.rows.map(({ examples: ex, ...r }) => ({
      ...r,
      examples: ex.map(({ clean: _c, adversarial: _a, ...m }) => m),
    })),
  }).replace(/</g, '\\u003c');
  const title = `Defence scorecard: ${card.model.name} on ${card.dataset}`;
  return (
    `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>${esc(title)}</title><style>${CSS}</style></head><body>
<h1>${esc(title)}</h1>
<p class="sub">Each defence and detector against an attacker who does not know it and one who does ` +
    `(adaptive attack), at ε = ${esc(card.epsText)} (L∞), ${card.n} ${esc(card.split)} images` +
    `${card.quick ? ' — <b>quick run</b>: fewer images and iterations than a full evaluation' : ''}.</p>
<h2>Conclusion</h2>
${conclusion(card)}
<h2>Verdict rule</h2>
<p class="rule" id="verdict-rule">${esc(card.verdictRule)}</p>
<h2>Scorecard</h2>
${card.rows.length ? table(card) : '<p>No rows.</p>'}
<h2>Before and after the attacker learns the defence</h2>
${await charts(card)}
<h2>Adversarial images that got through</h2>
<p class="cap">Clean original and adversarial image side by side, enlarged without smoothing (8-bit PNG: they show ` +
    `the attack, they are not the exact float input). To a radiologist they look the same; the model's answer does ` +
    `not.</p>
<div id="examples">${examples(card)}</div>
<h2>Sanity checks</h2>
<p class="cap">Checks that the attacks themselves worked (Carlini et al. 2019; Tramer et al. 2020): a larger ε must ` +
    `break the model, more iterations must not help it, a white-box attack must beat a transferred one, and ` +
    `gradients must be informative. A failed check means the defence's numbers cannot be trusted.</p>
<div id="sanity">${sanity(card)}</div>
${notes.length ? `<h2>Notes</h2><ul class="notes" id="notes">${notes.map((n) => `<li>${n}</li>`).join('')}</ul>` : ''}
<h2>Provenance</h2><dl id="provenance">
<dt>model</dt><dd>${esc(card.model.name)} — ${esc(card.model.architecture)}; <code>${esc(card.model.dir)}</code></dd>
<dt>dataset</dt><dd>${esc(card.dataset)}, split ${esc(card.split)}, ${card.n} images</dd>
<dt>perturbation</dt><dd>ε = ${esc(card.epsText)} (${esc(card.norm === 'linf' ? 'L∞' : card.norm)}, ` +
    `${num(card.eps, 5)} in [0,1] pixel units)</dd>
<dt>seed</dt><dd>${card.seed}</dd>
<dt>run</dt><dd>${card.quick ? 'quick' : 'full'}, ${card.seconds.toFixed(1)} s</dd>
<dt>medshield</dt><dd>scorecard by ${esc(card.medshieldVersion)}; page by ${esc(VERSION)}` +
    `${commit ? ` (commit <code>${esc(commit)}</code>)` : ''}</dd>
<dt>regenerate</dt><dd><code id="command">${esc(meta.command)}</code></dd>
</dl>
<script type="application/json" id="scorecard-data">${data}</script>
</body></html>
`
  );
}

export async function writeScorecardReport(file: string, card: Scorecard, meta: { command: string }): Promise<void> {
  const html = await renderScorecard(card, meta);
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, html);
}
