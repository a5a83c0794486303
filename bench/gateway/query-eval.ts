/**
 * Query-attack detection figures: benign replay of the PneumoniaMNIST test set (several callers, each a
 * disjoint slice) vs Square and SimBA attacks, all through the gateway's HTTP endpoint on loopback.
 * (and HopSkipJump, decision-only). Prints detection delay (queries until the first flagged answer) and benign false-flag rates as JSON.
 *
 *   node dist/bench/gateway/query-eval.js [--model DIR|default] [--callers 6] [--per-caller 100] [--attacks 5] [--budget 300] [--eps 0.05]
 */
import { parseArgs } from 'node:util';
import { initEngine } from '../../src/engine/index.js';
import { loadGatewayConfig, createGateway } from '../../src/gateway/index.js';
import { makeGatewayDir, testImages } from './fixtures.js';
import { squareAttack, simbaAttack, hopSkipJump, benignReplay } from './query-attacks.js';
import { addKey } from '../../src/gateway/keys.js';

export interface QueryEval {
  model: string;
  benign: { callers: number; requests: number; flaggedRequests: number; flaggedCallers: number; requestRate: number; callerRate: number };
  attacks: Array<{ attack: string; image: number; queries: number; detectedAt: number | null; success: boolean }>;
  detection: Record<string, { runs: number; detected: number; succeededBeforeDetection: number; medianDelay: number | null; maxDelay: number | null }>;
}

export async function runQueryEval(o: { model: string; callers: number; perCaller: number; attacks: number; budget: number; eps: number }): Promise<QueryEval> {
  const g = await makeGatewayDir(o.model, (c) => {
    c.signature.required = false;
    c.inputs.contentTypes = ['application/dicom', 'image/png'];
    c.output = { mode: 'top1', decimals: 4 };
    c.rateLimit = { perKey: { max: 1_000_000, windowMs: 60000 }, perIp: { max: 1_000_000, windowMs: 60000 } };
    c.queryDetection = { enabled: true, action: 'flag' };
    c.logging = { level: 'warn' };
  });
  const gw = await createGateway(loadGatewayConfig(g.config));
  const base = await gw.listen(0, '127.0.0.1');
  try {
    const imgs = await testImages(o.callers * o.perCaller);
    let flaggedRequests = 0, flaggedCallers = 0, requests = 0;
    for (let c = 0; c < o.callers; c++) {
      const key = addKey(g.keysFile, 'clinician', `benign ${c}`).apiKey;
      const r = await benignReplay(base, key, imgs.slice(c * o.perCaller, (c + 1) * o.perCaller).map((i) => i.pixels));
      requests += r.requests; flaggedRequests += r.flagged; if (r.flagged) flaggedCallers++;
    }
    const attacks: QueryEval['attacks'] = [];
    // Victims: test images (from index 300 on) that the model classifies correctly, so an attack has work to do.
    const model = gw.ctx.model;
    const victims: Array<{ pixels: Uint8Array; label: number; index: number }> = [];
    for (const [i, im] of (await testImages(200, 300)).entries()) {
      if (victims.length >= o.attacks) break;
      const p = await model.predictProbs(Float32Array.from(im.pixels, (v) => v / 255), 1);
      if ((p[1] > p[0] ? 1 : 0) === im.label) victims.push({ ...im, index: 300 + i });
    }
    const hsj = (b: string, k: string, x: Uint8Array, y: number, a: { budget: number; seed: number }) => hopSkipJump(b, k, x, y, a);
    for (const [name, fn] of [['square', squareAttack], ['simba', simbaAttack], ['hopskipjump', hsj]] as const) {
      for (let i = 0; i < victims.length; i++) {
        const key = addKey(g.keysFile, 'clinician', `${name} attacker ${i}`).apiKey;
        const r = await fn(base, key, victims[i].pixels, victims[i].label, { eps: o.eps, budget: o.budget, seed: i });
        attacks.push({ attack: name, image: victims[i].index, queries: r.queries, detectedAt: r.detectedAt, success: r.success });
      }
    }
    const detection: QueryEval['detection'] = {};
    for (const name of ['square', 'simba', 'hopskipjump']) {
      const runs = attacks.filter((a) => a.attack === name);
      const d = runs.map((a) => a.detectedAt).filter((v): v is number => v !== null).sort((a, b) => a - b);
      detection[name] = { runs: runs.length, detected: d.length, succeededBeforeDetection: runs.filter((a) => a.detectedAt === null && a.success).length, medianDelay: d.length ? d[Math.floor(d.length / 2)] : null, maxDelay: d.length ? d[d.length - 1] : null };
    }
    return {
      model: o.model,
      benign: { callers: o.callers, requests, flaggedRequests, flaggedCallers, requestRate: flaggedRequests / requests, callerRate: flaggedCallers / o.callers },
      attacks, detection,
    };
  } finally { await gw.close(); }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { model: { type: 'string', default: 'default' }, callers: { type: 'string', default: '6' }, 'per-caller': { type: 'string', default: '100' }, attacks: { type: 'string', default: '5' }, budget: { type: 'string', default: '300' }, eps: { type: 'string', default: '0.05' } } });
  await initEngine({ backend: 'wasm' });
  const r = await runQueryEval({ model: values.model!, callers: +values.callers!, perCaller: +values['per-caller']!, attacks: +values.attacks!, budget: +values.budget!, eps: +values.eps! });
  process.stdout.write(JSON.stringify(r, null, 1) + '\n');
  process.exit(0);
}
