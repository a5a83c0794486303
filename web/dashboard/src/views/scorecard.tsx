/**
 * View 3: detectors (AUC vs ε, ROC curves when per-sample scores are stored), defences and scorecard rows of a
 * campaign.
 */
import type { Params } from '../router';
import { Chart, chartConfig } from '../chart';
import { epsText, num } from '../format';
import type { Scorecard } from '../types';
import { Status, useJson } from './common';
import { DefencesSection, ScorecardSection } from './defences';

function aucSpec(s: Scorecard) {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...chartConfig,
    width: 'container' as const,
    height: 240,
    data: {
      values: s.detection.map((d) => ({
        ...d,
        eps255: d.eps * 255,
        series: `${d.model} · ${d.detector} · ${d.attack}`,
      })),
    },
    mark: { type: 'line' as const, point: true },
    encoding: {
      x: {
        field: 'eps255',
        type: 'quantitative' as const,
        title: 'ε (grey levels out of 255)',
        scale: { domainMin: 0 },
        axis: { format: '~g' },
      },
      y: { field: 'auc', type: 'quantitative' as const, title: 'AUC', scale: { domain: [0, 1] } },
      color: { field: 'series', type: 'nominal' as const, title: 'model · detector · attack' },
    },
  };
}

function rocSpec(s: Scorecard) {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...chartConfig,
    width: 'container' as const,
    height: 260,
    layer: [
      {
        data: {
          values: [
            { x: 0, y: 0 },
            { x: 1, y: 1 },
          ],
        },
        mark: { type: 'line' as const, strokeDash: [4, 4], color: '#888' },
        encoding: {
          x: { field: 'x', type: 'quantitative' as const },
          y: { field: 'y', type: 'quantitative' as const },
        },
      },
      {
        data: { values: s.roc.map((r) => ({ ...r, series: `${r.detector} · ${r.attack} · ε ${epsText(r.eps)}` })) },
        mark: { type: 'line' as const, interpolate: 'step-after' as const },
        encoding: {
          x: {
            field: 'fpr',
            type: 'quantitative' as const,
            title: 'false positive rate',
            scale: { domain: [0, 1] },
            axis: { format: '.1f', tickCount: 10 },
          },
          y: {
            field: 'tpr',
            type: 'quantitative' as const,
            title: 'true positive rate',
            scale: { domain: [0, 1] },
            axis: { format: '.1f' },
          },
          color: { field: 'series', type: 'nominal' as const, title: 'detector · attack · ε' },
          order: { field: 'fpr', type: 'quantitative' as const },
        },
      },
    ],
  };
}

export function ScorecardView({ params }: { params: Params }) {
  const id = encodeURIComponent(params.id);
  const { data, error } = useJson<Scorecard>(`/api/campaigns/${id}/scorecard`);
  return (
    <section>
      <h1>
        Scorecard <span class="sub">{params.id}</span>
      </h1>
      <p class="links">
        <a href={`/campaigns/${id}`}>Campaign</a> · <a href={`/gallery/${id}`}>Gallery</a>
      </p>
      {!data ? (
        <Status error={error} what="the scorecard" />
      ) : (
        <>
          <h2>Detectors</h2>
          {!data.detection.length ? (
            <p class="empty" id="no-detection">
              No detector results: none in this campaign.
            </p>
          ) : (
            <>
              <Chart spec={aucSpec(data) as never} label="Detector AUC vs ε" />
              {data.roc.length ? (
                <Chart spec={rocSpec(data) as never} label="Detector ROC curves (from stored per-sample scores)" />
              ) : (
                <p class="empty">No per-sample detector scores stored: no ROC curves.</p>
              )}
              <table class="data" id="detection">
                <caption>Detection: clean vs adversarial inputs</caption>
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col">Detector</th>
                    <th scope="col">Attack</th>
                    <th scope="col" class="num">
                      ε
                    </th>
                    <th scope="col" class="num">
                      AUC
                    </th>
                    <th scope="col" class="num">
                      TPR at 5 % FPR
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.detection.map((d) => (
                    <tr>
                      <td>{d.model}</td>
                      <td>{d.detector}</td>
                      <td>{d.attack}</td>
                      <td class="num">{epsText(d.eps)}</td>
                      <td class="num">{num(d.auc)}</td>
                      <td class="num">{num(d.tprAt5Fpr)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
          <h2>Defences</h2>
          {!data.defences.length ? (
            <p class="empty" id="no-defences">
              No defence results: none in this campaign.
            </p>
          ) : (
            <DefencesSection rows={data.defences} />
          )}
          <h2>Scorecard rows</h2>
          {!data.scorecard?.length ? (
            <p class="empty" id="no-scorecard">
              No scorecard rows: none in this campaign.
            </p>
          ) : (
            <ScorecardSection rows={data.scorecard} />
          )}
        </>
      )}
    </section>
  );
}
