/**
 * View 5: the gateway — request rate, refusals by reason, query-attack alerts per API key, the audit chain's
 * verification and the latest audit records (no image hash, no SOP Instance UID). Refreshes every 3 s.
 */
import { useEffect, useState } from 'preact/hooks';
import { getJson } from '../api';
import { Status } from './common';

interface PublicRecord {
  seq: number;
  time: string;
  event: string;
  outcome: number;
  route: string | null;
  status: number | null;
  userId: string | null;
  role: string | null;
  decision: string | null;
  flags: string;
  reason: string | null;
  refusal: string | null;
  hash: string;
}
interface GatewayInfo {
  store: string;
  signaturesRequired: boolean;
  overview: {
    headSeq: number;
    window: number;
    requests: number;
    requestsPerSecond: { lastMinute: number; window: number };
    refusals: Record<string, number>;
    queryAlerts: Array<{ userId: string | null; alerts: number; last: string; decision: string | null }>;
    latest: PublicRecord[];
  };
  verification: {
    valid: boolean;
    error?: string;
    records?: number;
    signatures?: number;
    signaturesChecked?: boolean;
    checkpointSeq?: number | null;
    headSeq?: number;
    headHash?: string;
    firstBroken?: { seq: number; reason: string } | null;
    checkedAt?: string;
  };
}

const REASONS: Array<[string, string]> = [
  ['unsigned', 'unsigned image'],
  ['invalid-signature', 'invalid signature'],
  ['detector', 'input detector'],
  ['query-attack', 'query attack (blocked caller)'],
  ['authentication', 'authentication / role'],
  ['rate-limit', 'rate limit'],
  ['bad-input', 'bad input'],
  ['other', 'other'],
];

function Verification({ v }: { v: GatewayInfo['verification'] }) {
  if (v.error)
    return (
      <p class="error" id="audit-status" role="alert">
        Audit log not verified: {v.error}
      </p>
    );
  return v.valid ? (
    <p class="ok" id="audit-status">
      Audit chain intact: {v.records} records, {v.signatures} gateway signatures{' '}
      {v.signaturesChecked ? 'verified' : '(not checked: no gateway certificate in the configuration)'}
      {v.checkpointSeq != null ? `, checkpoint at record ${v.checkpointSeq}` : ''}; head {v.headSeq}{' '}
      <code class="hash">{v.headHash?.slice(0, 16)}…</code>
    </p>
  ) : (
    <p class="error" id="audit-status" role="alert">
      Audit chain BROKEN at record {v.firstBroken?.seq}: {v.firstBroken?.reason}
    </p>
  );
}

export function GatewayView() {
  const [state, setState] = useState<{ data: GatewayInfo | null; error: string | null }>({ data: null, error: null });
  useEffect(() => {
    let live = true;
    const load = () =>
      getJson<GatewayInfo>('/api/gateway').then(
        (data) => live && setState({ data, error: null }),
        (e: Error) => live && setState((s) => ({ data: s.data, error: e.message })),
      );
    load();
    const t = setInterval(load, 3000);
    return () => {
      live = false;
      clearInterval(t);
    };
  }, []);
  const d = state.data;
  if (!d)
    return (
      <section>
        <h1>Gateway</h1>
        <Status error={state.error} what="the gateway's audit log" />
      </section>
    );
  const o = d.overview;
  return (
    <section>
      <h1>Gateway</h1>
      <p>
        Read from the gateway's audit log ({d.store}); signatures {d.signaturesRequired ? 'required' : 'not required'}{' '}
        by its configuration. Figures over the newest {o.window} records.
      </p>
      <h2>Audit chain</h2>
      <Verification v={d.verification} />
      <h2>Traffic</h2>
      <dl class="facts" id="traffic">
        <dt>Requests</dt>
        <dd>{o.requests}</dd>
        <dt>Requests per second</dt>
        <dd>
          {o.requestsPerSecond.lastMinute.toFixed(2)} over the last minute · {o.requestsPerSecond.window.toFixed(2)}{' '}
          over the records read
        </dd>
        <dt>Newest record</dt>
        <dd>{o.headSeq}</dd>
      </dl>
      <table class="data" id="refusals">
        <caption>Refused requests by reason</caption>
        <thead>
          <tr>
            <th scope="col">Reason</th>
            <th scope="col">Requests</th>
          </tr>
        </thead>
        <tbody>
          {REASONS.map(([k, label]) => (
            <tr data-reason={k}>
              <td>{label}</td>
              <td class="num">{o.refusals[k] ?? 0}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <table class="data" id="query-alerts">
        <caption>Query-attack alerts per API key</caption>
        <thead>
          <tr>
            <th scope="col">API key id</th>
            <th scope="col">Alerts</th>
            <th scope="col">Last</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {o.queryAlerts.length ? (
            o.queryAlerts.map((a) => (
              <tr>
                <td>
                  <code>{a.userId ?? '(none)'}</code>
                </td>
                <td class="num">{a.alerts}</td>
                <td>{a.last}</td>
                <td>{a.decision ?? '–'}</td>
              </tr>
            ))
          ) : (
            <tr>
              <td colSpan={4} class="empty">
                No query-attack alerts.
              </td>
            </tr>
          )}
        </tbody>
      </table>
      <table class="data compact" id="audit-latest">
        <caption>Latest audit records (no image hash, no SOP Instance UID, no pixel data)</caption>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Time</th>
            <th scope="col">Event</th>
            <th scope="col">Route</th>
            <th scope="col">Status</th>
            <th scope="col">Key</th>
            <th scope="col">Refusal</th>
            <th scope="col">Reason / decision</th>
          </tr>
        </thead>
        <tbody>
          {o.latest.map((r) => (
            <tr data-seq={r.seq} data-refusal={r.refusal ?? ''}>
              <td class="num">{r.seq}</td>
              <td>{r.time}</td>
              <td>{r.event}</td>
              <td>{r.route ?? '–'}</td>
              <td class="num">{r.status ?? '–'}</td>
              <td>
                <code>{r.userId ?? '–'}</code>
              </td>
              <td>{r.refusal ?? ''}</td>
              <td>
                {r.reason ?? r.decision ?? ''}
                {r.flags ? ` [${r.flags}]` : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
