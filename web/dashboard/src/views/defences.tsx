/**
 * A campaign's defence rows (spec `defences:`, the non-adaptive protocol of `medshield defend`: the attack is
 * crafted on the undefended model, the defended pipeline classifies the result) and scorecard rows (spec
 * `scorecard:`, `medshield scorecard`: the same defence against an attacker who knows it — BPDA, EOT, joint
 * attacks on detectors; Athalye et al., ICML 2018; Tramèr et al., NeurIPS 2020), as charts and tables.
 * Used by the campaign page and the scorecard page.
 */
import { Chart, chartConfig } from '../chart';
import { epsText, pct } from '../format';
import type { DefenceRow, ScorecardRow } from '../types';

const NORMS: Record<string, string> = { linf: 'L∞', l2: 'L2', l1: 'L1', l0: 'L0' };

/** Row label of a chart: the model only when the campaign has several. */
function label(model: string, several: boolean, ...rest: string[]): string {
  return [...(several ? [model] : []), ...rest].join(' · ');
}

const DEFENCE_MEASURES = [
  'undefended, clean',
  'undefended, under attack',
  'defended, clean',
  'defended, under attack',
] as const;

/** A grouped bar chart: one group per `row`, one bar per measure, values in [0, 1] shown as %. */
function groupedBars(
  values: Array<{ row: string; measure: string; value: number }>,
  o: {
    xTitle: string;
    yTitle: string;
    measures: readonly string[];
    colors: string[];
    colorTitle: string;
    height: number;
  },
  legend: Record<string, unknown> = {},
) {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...chartConfig,
    width: 'container' as const,
    height: o.height,
    data: { values },
    mark: { type: 'bar' as const },
    encoding: {
      x: { field: 'row', type: 'nominal' as const, title: o.xTitle, axis: { labelAngle: 0 } },
      xOffset: { field: 'measure', type: 'nominal' as const, sort: [...o.measures] },
      y: {
        field: 'value',
        type: 'quantitative' as const,
        title: o.yTitle,
        scale: { domain: [0, 1] },
        axis: { format: '%' },
      },
      color: {
        field: 'measure',
        type: 'nominal' as const,
        title: o.colorTitle,
        scale: { domain: [...o.measures], range: o.colors },
        ...legend,
      },
    },
  };
}

/** Grouped bars per defence × attack × ε: the undefended and the defended model, clean and under attack. */
export function defencesSpec(rows: DefenceRow[]) {
  const several = new Set(rows.map((r) => r.model)).size > 1;
  const values = rows
    .filter((r) => r.n > 0)
    .flatMap((r) => {
      const row = label(r.model, several, r.defence, r.attack, `ε ${r.epsText ?? epsText(r.eps)}`);
      const v = [r.undefendedCleanAccuracy, r.undefendedRobustAccuracy, r.cleanAccuracy, r.robustAccuracy];
      return DEFENCE_MEASURES.map((measure, k) => ({ row, measure, value: v[k] }));
    });
  return groupedBars(values, {
    xTitle: 'defence · attack · ε',
    yTitle: 'accuracy',
    measures: DEFENCE_MEASURES,
    colors: ['#b9bec6', '#5f6670', '#9ec5ee', '#0b5cad'],
    colorTitle: 'model, input',
    height: 240,
  });
}

export function DefencesTable({ rows }: { rows: DefenceRow[] }) {
  return (
    <table class="data" id="defences">
      <caption>
        Defences, non-adaptive: attacks crafted on the undefended model, classified by the defended one (as{' '}
        <code>medshield defend</code>)
      </caption>
      <thead>
        <tr>
          <th scope="col">Model</th>
          <th scope="col">Defence</th>
          <th scope="col">Attack</th>
          <th scope="col" class="num">
            ε
          </th>
          <th scope="col" class="num">
            n
          </th>
          <th scope="col" class="num">
            Clean accuracy
          </th>
          <th scope="col" class="num">
            Robust accuracy
          </th>
          <th scope="col" class="num">
            Undefended clean
          </th>
          <th scope="col" class="num">
            Undefended robust
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr data-eps={r.eps}>
            <td>{r.model}</td>
            <td title={r.spec !== r.defence ? r.spec : undefined}>{r.defence}</td>
            <td>
              {r.attack}
              {r.norm && r.norm !== 'linf' ? ` (${NORMS[r.norm] ?? r.norm})` : ''}
            </td>
            <td class="num">{r.epsText ?? epsText(r.eps)}</td>
            <td class="num">{r.n}</td>
            {r.n ? (
              <>
                <td class="num">{pct(r.cleanAccuracy)}</td>
                <td class="num">{pct(r.robustAccuracy)}</td>
                <td class="num">{pct(r.undefendedCleanAccuracy)}</td>
                <td class="num">{pct(r.undefendedRobustAccuracy)}</td>
              </>
            ) : (
              <td colSpan={4} class="empty">
                not run yet
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const SCORECARD_MEASURES = ['unaware of the defence', 'knows the defence (adaptive)'] as const;

/** Fooled and undetected per scorecard row × ε: the non-adaptive attacker beside the adaptive one. */
export function scorecardSpec(rows: ScorecardRow[]) {
  const several = new Set(rows.map((r) => r.model)).size > 1;
  const values = rows.flatMap((r) => {
    const row = label(r.model, several, r.defence, `ε ${r.epsText}`);
    return [
      { row, measure: SCORECARD_MEASURES[0], value: r.nonAdaptive.fooledAndUndetected },
      { row, measure: SCORECARD_MEASURES[1], value: r.adaptive.fooledAndUndetected },
    ];
  });
  return groupedBars(
    values,
    {
      xTitle: 'scorecard row · ε',
      yTitle: 'fooled & undetected',
      measures: SCORECARD_MEASURES,
      colors: ['#9ec5ee', '#a4161a'],
      colorTitle: 'attacker',
      height: 220,
    },
    { legend: { labelLimit: 240 } },
  );
}

export function ScorecardRowsTable({ rows }: { rows: ScorecardRow[] }) {
  const quick = rows.some((r) => r.quick);
  return (
    <table class="data" id="scorecard-rows">
      <caption>
        Scorecard rows (<code>medshield scorecard{quick ? ' --quick' : ''}</code>): fooled and undetected among the
        correctly classified images, by an attacker unaware of the defence and by one who knows it
      </caption>
      <thead>
        <tr>
          <th scope="col">Model</th>
          <th scope="col">Row</th>
          <th scope="col" class="num">
            ε
          </th>
          <th scope="col" class="num">
            n
          </th>
          <th scope="col" class="num">
            Clean accuracy
          </th>
          <th scope="col">Non-adaptive attack</th>
          <th scope="col" class="num">
            Fooled &amp; undetected (non-adaptive)
          </th>
          <th scope="col">Adaptive attack</th>
          <th scope="col" class="num">
            Fooled &amp; undetected (adaptive)
          </th>
          <th scope="col">Gradient masking</th>
          <th scope="col">Sanity checks</th>
          <th scope="col">Verdict</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr data-eps={r.eps} class={`verdict-${r.verdict}`}>
            <td>{r.model}</td>
            <td>{r.defence}</td>
            <td class="num">{r.epsText}</td>
            <td class="num">{r.n}</td>
            <td class="num">{pct(r.cleanAccuracy)}</td>
            <td>{r.nonAdaptive.attack}</td>
            <td class="num">{pct(r.nonAdaptive.fooledAndUndetected)}</td>
            <td>{r.adaptive.attack}</td>
            <td class="num">{pct(r.adaptive.fooledAndUndetected)}</td>
            <td>{r.gradientMasking ? 'yes' : 'no'}</td>
            <td>{r.sanity}</td>
            <td>
              <span class={`badge badge-verdict-${r.verdict}`}>{r.verdict}</span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The undefended baselines of the scorecard rows (one per model × ε × attack). */
function Baselines({ rows }: { rows: ScorecardRow[] }) {
  const seen = new Map<string, ScorecardRow>();
  for (const r of rows) seen.set(`${r.model}|${r.epsText}|${r.baseline.attack}`, r);
  return (
    <p class="note" id="scorecard-baseline">
      No defence:{' '}
      {[...seen.values()]
        .map(
          (r) =>
            `${r.model} at ε ${r.epsText}, clean accuracy ${pct(r.baseline.cleanAccuracy)}, ` +
            `${pct(r.baseline.robustAccuracy)} under ${r.baseline.attack}`,
        )
        .join('; ')}
      .
    </p>
  );
}

/** The defences section: a chart of the rows that ran and the table. */
export function DefencesSection({ rows }: { rows: DefenceRow[] }) {
  return (
    <>
      {rows.some((r) => r.n > 0) ? (
        <Chart
          spec={defencesSpec(rows) as never}
          label="Accuracy per defence, attack and ε: undefended and defended model, clean and under attack"
        />
      ) : null}
      <DefencesTable rows={rows} />
    </>
  );
}

/** The scorecard section: a chart, the table and the undefended baselines. */
export function ScorecardSection({ rows }: { rows: ScorecardRow[] }) {
  return (
    <>
      <Chart
        spec={scorecardSpec(rows) as never}
        label="Fooled and undetected per scorecard row: attacker unaware of the defence vs attacker who knows it"
      />
      <ScorecardRowsTable rows={rows} />
      <Baselines rows={rows} />
    </>
  );
}
