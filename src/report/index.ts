/** Reports: the JSON schema of attack results and the self-contained HTML rendering. */
export { REPORT_SCHEMA, THREAT_TAGS, type AttackReport, type Provenance, type ReportExample } from './schema.js';
export { buildReport, type BuildInput } from './build.js';
export { renderHtml, writeHtml } from './html.js';
export { renderSvg, epsilonSweepSpec } from './charts.js';
export { findings } from './summary.js';
