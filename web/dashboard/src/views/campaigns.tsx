/**
 * View 2: the campaigns list and a campaign's page (live progress, robustness curves, per-attack table, and the
 * campaign's defence and scorecard rows when its spec has them).
 */
import type { Params } from '../router';
import { useEffect, useState } from 'preact/hooks';
import { subscribe } from '../api';
import { Chart, chartConfig } from '../chart';
import { epsText, pct } from '../format';
import type { CampaignStatus, CampaignSummary, QueryCurve, ResultRow } from '../types';
import { Badge, Progress, Status, useJson } from './common';
import { DefencesSection, ScorecardSection } from './defences';

export function CampaignsView() {
  const { data, error } = useJson<CampaignSummary[]>('/api/campaigns');
  return (
    <section>
      <h1>Campaigns</h1>
      {!data ? (
        <Status error={error} what="the campaigns" />
      ) : !data.length ? (
        <p class="empty">
          No campaigns in this store (run <code>medshield campaign run SPEC --store URL</code>).
        </p>
      ) : (
        <table class="data" id="campaigns">
          <caption>Campaigns in the results store</caption>
          <thead>
            <tr>
              <th scope="col">Campaign</th>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col" class="num">
                Shards done
              </th>
              <th scope="col">Views</th>
            </tr>
          </thead>
          <tbody>
            {data.map((c) => (
              <tr>
                <td>
                  <a href={`/campaigns/${encodeURIComponent(c.id)}`}>{c.id}</a>
                </td>
                <td>{c.name}</td>
                <td>
                  <Badge status={c.status} />
                </td>
                <td class="num">
                  {c.shards.done} / {c.shards.total}
                  {c.shards.failed ? ` (${c.shards.failed} failed)` : ''}
                </td>
                <td>
                  <a href={`/scorecard/${encodeURIComponent(c.id)}`}>scorecard</a> ·{' '}
                  <a href={`/gallery/${encodeURIComponent(c.id)}`}>gallery</a> ·{' '}
                  <a href={`/evidence/${encodeURIComponent(c.id)}`}>evidence</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const NORMS: Record<string, string> = { linf: 'L∞', l2: 'L2', l1: 'L1', l0: 'L0' };

/**
 * Accuracy vs ε for one threat model (norm), one line per model × attack, starting from the clean accuracy at
 * ε = 0.
 */
export function robustnessSpec(rows: ResultRow[], norm: string) {
  const series = new Map<string, ResultRow[]>();
  for (const r of rows) {
    const k = `${r.model} · ${r.attack}`;
    series.set(k, [...(series.get(k) ?? []), r]);
  }
  const grey = norm === 'linf';
  const values: Array<{ series: string; eps: number; accuracy: number }> = [];
  for (const [k, rs] of series) {
    values.push({ series: k, eps: 0, accuracy: rs[0].cleanAccuracy });
    for (const r of rs) values.push({ series: k, eps: grey ? r.eps * 255 : r.eps, accuracy: r.robustAccuracy });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...chartConfig,
    width: 'container' as const,
    height: 260,
    data: { values },
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: {
        field: 'eps',
        type: 'quantitative' as const,
        title: grey ? 'ε (L∞, grey levels out of 255)' : `ε (${NORMS[norm] ?? norm} norm, pixels in [0, 1])`,
        axis: { format: '~g' },
      },
      y: {
        field: 'accuracy',
        type: 'quantitative' as const,
        title: 'accuracy',
        scale: { domain: [0, 1] },
        axis: { format: '%' },
      },
      color: { field: 'series', type: 'nominal' as const, title: 'model · attack' },
    },
  };
}

/** One robustness chart per threat model (ε in different norms cannot share an axis). */
function RobustnessCharts({ rows }: { rows: ResultRow[] }) {
  const byNorm = new Map<string, ResultRow[]>();
  for (const r of rows.filter((x) => x.n > 0)) {
    const k = r.norm || 'linf';
    byNorm.set(k, [...(byNorm.get(k) ?? []), r]);
  }
  if (!byNorm.size) return <p class="empty">No results yet.</p>;
  return (
    <>
      {[...byNorm].map(([norm, rs]) => (
        <Chart
          spec={robustnessSpec(rs, norm) as never}
          label={`Accuracy vs ε (${NORMS[norm] ?? norm}) per model and attack`}
        />
      ))}
    </>
  );
}

function querySpec(q: QueryCurve) {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...chartConfig,
    width: 'container' as const,
    height: 240,
    data: { values: q.rows.map((r) => ({ ...r, series: `${r.model} · ${r.attack} · ε ${epsText(r.eps)}` })) },
    mark: { type: 'line' as const, point: true, interpolate: 'step-after' as const },
    encoding: {
      x: {
        field: 'queries',
        type: 'quantitative' as const,
        title: 'query budget (model queries per image)',
        scale: { type: 'symlog' as const },
        axis: { labelOverlap: true, tickCount: 6 },
      },
      y: {
        field: 'accuracy',
        type: 'quantitative' as const,
        title: 'accuracy',
        scale: { domain: [0, 1] },
        axis: { format: '%' },
      },
      color: { field: 'series', type: 'nominal' as const, title: 'model · attack · ε' },
    },
  };
}

export function ResultsTable({ rows }: { rows: ResultRow[] }) {
  return (
    <table class="data" id="results">
      <caption>Per-attack results (aggregated over all shards)</caption>
      <thead>
        <tr>
          <th scope="col">Model</th>
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
            Attack success rate
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr data-eps={r.eps}>
            <td>{r.model}</td>
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
                <td class="num">{pct(r.attackSuccessRate)}</td>
              </>
            ) : (
              <td colSpan={3} class="empty">
                not run yet
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Failures({ id, n }: { id: string; n: number }) {
  const { data } = useJson<Array<{ jobKey: string; error: string; attempts: number }>>(
    `/api/campaigns/${id}/failures?n=${n}`,
  );
  return (
    <div class="failures">
      <p class="error">
        {n} {n === 1 ? 'job' : 'jobs'} failed:
      </p>
      {data ? (
        <ul>
          {data.map((f) => (
            <li>
              <code>{f.jobKey}</code>: {f.error} ({f.attempts} {f.attempts === 1 ? 'attempt' : 'attempts'})
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function CampaignView({ params }: { params: Params }) {
  const id = encodeURIComponent(params.id);
  const first = useJson<CampaignStatus>(`/api/campaigns/${id}`);
  const [live, setLive] = useState<CampaignStatus | null>(null);
  const [streamError, setStreamError] = useState<string | null>(null);
  const status = live ?? first.data;
  const running = status ? status.status === 'running' || status.status === 'planned' : false;
  useEffect(() => {
    if (!first.data || (first.data.status !== 'running' && first.data.status !== 'planned')) return;
    return subscribe(
      `/api/campaigns/${id}/events`,
      (ev, data) => {
        if (ev === 'status') setLive(data as CampaignStatus);
      },
      (e) => setStreamError(e.message),
    );
  }, [first.data]);
  const q = useJson<QueryCurve>(status?.status === 'done' ? `/api/campaigns/${id}/query-curve` : null);
  if (!status)
    return (
      <section>
        <h1>Campaign {params.id}</h1>
        <Status error={first.error} what="the campaign" />
      </section>
    );
  return (
    <section>
      <h1>Campaign {status.name}</h1>
      <dl class="facts">
        <dt>Id</dt>
        <dd>
          <code>{status.id}</code>
        </dd>
        <dt>Status</dt>
        <dd>
          <Badge status={status.status} />{' '}
          {running ? (
            <span class="live" aria-live="polite">
              live
            </span>
          ) : null}
        </dd>
        <dt>Spec hash</dt>
        <dd>
          <code class="hash">{status.specHash}</code>
        </dd>
        <dt>Compute</dt>
        <dd>{status.seconds.toFixed(1)} s</dd>
      </dl>
      <div aria-live="polite">
        <Progress done={status.shards.done} total={status.shards.total} label="shards done" />
        {status.shards.failed ? <Failures id={id} n={status.shards.failed} /> : null}
      </div>
      {streamError ? (
        <p class="error" role="alert">
          Live progress stopped: {streamError}
        </p>
      ) : null}
      <p class="links">
        <a href={`/scorecard/${id}`}>Scorecard</a> · <a href={`/gallery/${id}`}>Gallery</a> ·{' '}
        <a href={`/api/campaigns/${id}/report`} data-native>
          HTML report
        </a>{' '}
        ·{' '}
        <a href={`/api/campaigns/${id}`} data-native>
          JSON
        </a>
      </p>
      <h2>Robustness curves</h2>
      {status.results.length ? (
        <RobustnessCharts rows={status.results} />
      ) : (
        <p class="empty">No attacks in this campaign.</p>
      )}
      {q.data?.rows.length ? (
        <>
          <h3>Black-box: accuracy vs query budget</h3>
          <Chart spec={querySpec(q.data) as never} label="Accuracy vs query budget" />
        </>
      ) : null}
      <h2>Per-attack table</h2>
      {status.results.length ? (
        <ResultsTable rows={status.results} />
      ) : (
        <p class="empty">No attacks in this campaign.</p>
      )}
      {status.defences?.length ? (
        <>
          <h2 id="defences-heading">Defences (non-adaptive)</h2>
          <DefencesSection rows={status.defences} />
        </>
      ) : null}
      {status.scorecard?.length ? (
        <>
          <h2 id="scorecard-heading">Scorecard: defences against the adaptive attacker</h2>
          <ScorecardSection rows={status.scorecard} />
        </>
      ) : null}
    </section>
  );
}
