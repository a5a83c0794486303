/** View 1: every model of `models/` and of the store — card, weights hash, training data and metrics, campaigns. */
import { num, pct } from '../format';
import type { ModelInfo } from '../types';
import { Status, useJson } from './common';

function Metrics({ m }: { m: ModelInfo['metrics'] }) {
  if (!m || !Object.keys(m).length) return <span class="empty">not recorded</span>;
  return (
    <table class="data compact">
      <thead>
        <tr>
          <th scope="col">Split</th>
          <th scope="col" class="num">
            Accuracy
          </th>
          <th scope="col" class="num">
            AUC
          </th>
          <th scope="col" class="num">
            n
          </th>
        </tr>
      </thead>
      <tbody>
        {Object.entries(m).map(([split, v]) => (
          <tr>
            <td>{split}</td>
            <td class="num">{pct(v.accuracy)}</td>
            <td class="num">{num(v.auc)}</td>
            <td class="num">{v.n ?? '–'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ModelsView() {
  const { data, error } = useJson<ModelInfo[]>('/api/models');
  return (
    <section>
      <h1>Models</h1>
      {!data ? (
        <Status error={error} what="the models" />
      ) : !data.length ? (
        <p class="empty">No models found.</p>
      ) : (
        <>
          <table class="data" id="models">
            <caption>
              Models shipped in <code>models/</code> and used by the store's campaigns
            </caption>
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Architecture</th>
                <th scope="col">Dataset</th>
                <th scope="col" class="num">
                  Test accuracy
                </th>
                <th scope="col">Weights SHA-256</th>
                <th scope="col" class="num">
                  Campaigns
                </th>
              </tr>
            </thead>
            <tbody>
              {data.map((m) => (
                <tr>
                  <td>
                    <a href={`#model-${m.name}`} data-native>
                      {m.name}
                    </a>
                    {m.onnx ? (
                      <span class="badge badge-onnx" title="imported ONNX model">
                        ONNX
                      </span>
                    ) : null}
                  </td>
                  <td>{m.architecture}</td>
                  <td>{m.dataset}</td>
                  <td class="num">{pct(m.metrics?.test?.accuracy)}</td>
                  <td>
                    <code class="hash" title={m.sha256 ?? ''}>
                      {m.sha256 ? `${m.sha256.slice(0, 16)}…` : 'not recorded'}
                    </code>
                  </td>
                  <td class="num">{m.campaigns.length}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="cards">
            {data.map((m) => (
              <article class="card" id={`model-${m.name}`} aria-labelledby={`model-h-${m.name}`}>
                <h2 id={`model-h-${m.name}`}>
                  {m.name} {m.onnx ? <span class="badge badge-onnx">imported ONNX</span> : null}
                </h2>
                <dl class="facts">
                  <dt>Architecture</dt>
                  <dd>
                    {m.architecture}
                    {m.parameters ? ` · ${m.parameters.toLocaleString('en')} parameters` : ''}
                  </dd>
                  <dt>Weights SHA-256</dt>
                  <dd>
                    <code class="hash">{m.sha256 ?? 'not recorded'}</code>
                  </dd>
                  <dt>Training data</dt>
                  <dd>
                    {m.dataset}
                    {m.classes.length ? ` (${m.classes.join(', ')})` : ''}
                    {m.datasetSha256 ? (
                      <>
                        {' '}
                        · <code class="hash">{m.datasetSha256.slice(0, 16)}…</code>
                      </>
                    ) : null}
                  </dd>
                  {m.training?.command ? (
                    <>
                      <dt>Trained by</dt>
                      <dd>
                        <code>{m.training.command}</code>
                      </dd>
                    </>
                  ) : null}
                  <dt>Source</dt>
                  <dd>{m.source.join(', ')}</dd>
                  <dt>Campaigns</dt>
                  <dd>
                    {m.campaigns.length
                      ? m.campaigns.map((c, i) => (
                          <>
                            {i ? ', ' : ''}
                            <a href={`/campaigns/${encodeURIComponent(c)}`}>{c}</a>
                          </>
                        ))
                      : 'none in this store'}
                  </dd>
                </dl>
                <h3>Metrics</h3>
                <Metrics m={m.metrics} />
              </article>
            ))}
          </div>
        </>
      )}
    </section>
  );
}
