/**
 * The campaign's HTML report as the dashboard links it: one self-contained page (inline styles, no script,
 * no external resource) with the status object's tables — what `medshield campaign report` writes.
 */
import type { CampaignStatus } from '../api/campaign/index.js';

const esc = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const pct = (x: number | null | undefined): string => (x == null ? '–' : `${(100 * x).toFixed(1)} %`);

export async function renderCampaignReport(s: CampaignStatus): Promise<string> {
  const rows = s.results.map((r) => `<tr><td>${esc(r.model)}</td><td>${esc(r.attack)}</td><td>${esc(r.epsText)}</td><td>${r.n}</td><td>${pct(r.cleanAccuracy)}</td><td>${pct(r.robustAccuracy)}</td><td>${pct(r.attackSuccessRate)}</td></tr>`).join('');
  const det = s.detection.map((d) => `<tr><td>${esc(d.model)}</td><td>${esc(d.detector)}</td><td>${esc(d.attack)}</td><td>${esc(d.epsText)}</td><td>${d.auc ?? '–'}</td><td>${d.tprAt5Fpr ?? '–'}</td></tr>`).join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Campaign ${esc(s.name)} · medshield</title>
<style>body{font:15px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f5f8}</style></head>
<body><h1>Campaign ${esc(s.name)}</h1><p>Id <code>${esc(s.id)}</code> · status ${esc(s.status)} · ${s.shards.done}/${s.shards.total} shards · spec hash <code>${esc(s.specHash)}</code></p>
<h2>Results</h2><table><thead><tr><th>Model</th><th>Attack</th><th>ε</th><th>n</th><th>Clean accuracy</th><th>Robust accuracy</th><th>Attack success rate</th></tr></thead><tbody>${rows}</tbody></table>
<h2>Detection</h2>${det ? `<table><thead><tr><th>Model</th><th>Detector</th><th>Attack</th><th>ε</th><th>AUC</th><th>TPR at 5 % FPR</th></tr></thead><tbody>${det}</tbody></table>` : '<p>None in this campaign.</p>'}
</body></html>`;
}
