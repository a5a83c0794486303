/**
 * Charts as Vega-Lite specifications rendered to inline SVG by the `vega` and `vega-lite` packages
 * at build time, so the HTML needs no script and no network when it is viewed.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { AttackSummary } from '../eval/robustness.js';

export type VegaLiteSpec = vl.TopLevelSpec;

/** Render a Vega-Lite spec to an SVG string. */
export async function renderSvg(spec: VegaLiteSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.Error });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

/** Robust accuracy and attack success rate against ε, one line per attack (ε in 1/255 units for L∞). */
export function epsilonSweepSpec(runs: AttackSummary[], cleanAccuracy: number): VegaLiteSpec {
  const linf = runs.every((r) => r.norm === 'linf');
  const rows = runs.flatMap((r) => [
    {
      attack: `${r.attack} (${r.norm})`,
      eps: linf ? r.eps * 255 : r.eps,
      metric: 'robust accuracy',
      value: r.robustAccuracy,
    },
    ...(r.attackSuccessRate === null
      ? []
      : [
          {
            attack: `${r.attack} (${r.norm})`,
            eps: linf ? r.eps * 255 : r.eps,
            metric: 'attack success rate',
            value: r.attackSuccessRate,
          },
        ]),
  ]);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Robustness against the perturbation budget ε',
    width: 420,
    height: 260,
    data: { values: rows },
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'eps', type: 'quantitative', title: linf ? 'ε (grey levels out of 255)' : 'ε' },
          y: { field: 'value', type: 'quantitative', title: 'fraction', scale: { domain: [0, 1] } },
          color: { field: 'attack', type: 'nominal', title: 'attack' },
          strokeDash: { field: 'metric', type: 'nominal', title: 'metric' },
        },
      },
      {
        data: { values: [{ clean: cleanAccuracy }] },
        mark: { type: 'rule', color: 'gray', strokeDash: [2, 2] },
        encoding: { y: { field: 'clean', type: 'quantitative' } },
      },
    ],
  } as VegaLiteSpec;
}

/** Mean SSIM and PSNR against ε (how visible the perturbation is). */
export function qualitySpec(runs: AttackSummary[]): VegaLiteSpec {
  const linf = runs.every((r) => r.norm === 'linf');
  const rows = runs
    .filter((r) => r.meanSSIM !== null)
    .map((r) => ({ attack: `${r.attack} (${r.norm})`, eps: linf ? r.eps * 255 : r.eps, ssim: r.meanSSIM }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Image similarity (mean SSIM) against ε',
    width: 420,
    height: 200,
    data: { values: rows },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'eps', type: 'quantitative', title: linf ? 'ε (grey levels out of 255)' : 'ε' },
      y: { field: 'ssim', type: 'quantitative', title: 'mean SSIM', scale: { zero: false } },
      color: { field: 'attack', type: 'nominal' },
    },
  } as VegaLiteSpec;
}

/** Bar chart of robust accuracy per AutoAttack component (cumulative) or per run. */
export function componentsSpec(run: AttackSummary): VegaLiteSpec {
  const rows = [
    { step: 'clean', robustAccuracy: run.cleanAccuracy },
    ...(run.components ?? []).map((c) => ({ step: `+ ${c.name}`, robustAccuracy: c.robustAccuracy })),
  ];
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `AutoAttack components at ε = ${run.epsText} (cumulative)`,
    width: 320,
    height: 180,
    data: { values: rows },
    mark: 'bar',
    encoding: {
      x: { field: 'step', type: 'nominal', sort: null, title: null },
      y: { field: 'robustAccuracy', type: 'quantitative', title: 'robust accuracy', scale: { domain: [0, 1] } },
    },
  } as VegaLiteSpec;
}

/** Query attacks: success rate among attacked images against the number of queries spent (log scale). */
export function queryCurveSpec(runs: AttackSummary[]): VegaLiteSpec {
  const values = runs
    .filter((r) => r.queryCurve?.length)
    .flatMap((r) =>
      r.queryCurve!.map((p) => ({
        run: `${r.attack} ${r.norm} ε=${r.epsText}`,
        queries: p.queries,
        attackSuccessRate: p.attackSuccessRate,
      })),
    );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: 'Attack success against queries to the target',
    width: 420,
    height: 220,
    data: { values },
    mark: { type: 'line', interpolate: 'step-after' },
    encoding: {
      x: { field: 'queries', type: 'quantitative', scale: { type: 'log' }, title: 'queries per image (log scale)' },
      y: { field: 'attackSuccessRate', type: 'quantitative', title: 'attack success rate', scale: { domain: [0, 1] } },
      color: { field: 'run', type: 'nominal', title: null, legend: { labelLimit: 0 } },
    },
  } as VegaLiteSpec;
}

/** Step sweeps: robust accuracy against the number of iterations at one ε (more iterations never help the model). */
export function stepSweepSpec(runs: AttackSummary[]): VegaLiteSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `Robust accuracy against attack iterations (ε = ${runs[0]?.epsText ?? ''})`,
    width: 420,
    height: 220,
    data: { values: runs.map((r) => ({ steps: r.steps, robustAccuracy: r.robustAccuracy, attack: r.attack })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'steps', type: 'quantitative', scale: { type: 'log' }, title: 'iterations (log scale)' },
      y: { field: 'robustAccuracy', type: 'quantitative', title: 'robust accuracy', scale: { domain: [0, 1] } },
      color: { field: 'attack', type: 'nominal', title: 'attack' },
    },
  } as VegaLiteSpec;
}
