/**
 * Query-attack detection figures, all through the gateway's HTTP endpoint on loopback:
 *   - benign replay of the PneumoniaMNIST test set (several callers, each a disjoint slice, PNG bodies);
 *   - medshield's own Square (L∞), SimBA (pixel basis, L∞) and HopSkipJump (L2, decision-only) attacks
 *     (src/attacks/*) driven through the HTTP target with PNG requests — the code path of
 *     `medshield attack --attack square --target-url URL/v1/infer --target-format png --api-key KEY` —
 *     one API key per attack run, on correctly classified test images.
 * Prints per-attack detection (flagged or not, delay in queries from the gateway's audit log), success,
 * and the benign false-flag rates as JSON.
 *
 * The evaluation gateway accepts unsigned PNG (`signature.required: false`, `inputs.contentTypes` with
 * image/png) and answers probabilities (`output.mode: probs`, 4 decimals): the query detector is the line
 * of defence for callers that CAN get their queries through — an insider or a compromised modality holding
 * a signing key signs every query — and it sees only the decoded pixels, so signing each query would add
 * signing cost and nothing to what is measured. Score-based attacks (Square, SimBA) need the scores.
 *
 *   node dist/bench/gateway/query-eval.js [--model DIR|default] [--callers 6] [--per-caller 104] [--attacks 5]
 *        [--budget 200] [--eps 0.05] [--hsj-eps 1] [--concurrency 4] [--seed 0]
 */
import { parseArgs } from 'node:util';
import { initEngine } from '../../src/engine/index.js';
import { loadGatewayConfig, createGateway } from '../../src/gateway/index.js';
import { makeGatewayDir, testImages } from './fixtures.js';
import { attackGateway, benignReplay, detectionFromAudit, type GatewayAttack } from './query-attacks.js';
import { addKey } from '../../src/gateway/keys.js';

export interface QueryEval {
  model: string;
  settings: { budget: number; eps: number; hsjEps: number; concurrency: number; seed: number; output: string };
  benign: {
    callers: number;
    requests: number;
    flaggedRequests: number;
    flaggedCallers: number;
    requestRate: number;
    callerRate: number;
  };
  attacks: Array<{
    attack: GatewayAttack;
    image: number;
    queries: number;
    detectedAt: number | null;
    success: boolean;
  }>;
  detection: Record<
    string,
    {
      runs: number;
      detected: number;
      detectedWithin200: number;
      succeededUndetected: number;
      successes: number;
      medianDelay: number | null;
      maxDelay: number | null;
    }
  >;
}

export const GATEWAY_ATTACKS: GatewayAttack[] = ['square', 'simba', 'hsj'];

export async function runQueryEval(o: {
  model: string;
  callers: number;
  perCaller: number;
  attacks: number;
  budget: number;
  eps: number;
  hsjEps: number;
  concurrency: number;
  seed: number;
}): Promise<QueryEval> {
  const g = await makeGatewayDir(o.model, (c) => {
    c.signature.required = false;
    c.inputs.contentTypes = ['application/dicom', 'image/png'];
    c.output = { mode: 'probs', decimals: 4 };
    c.rateLimit = { perKey: { max: 1_000_000, windowMs: 60000 }, perIp: { max: 1_000_000, windowMs: 60000 } };
    c.queryDetection = { enabled: true, action: 'flag' };
    c.logging = { level: 'warn' };
  });
  const gw = await createGateway(loadGatewayConfig(g.config));
  const base = await gw.listen(0, '127.0.0.1');
  const model = gw.ctx.model;
  const meta = { inputShape: model.inputShape, classes: model.classes, task: model.task };
  try {
    const imgs = await testImages(o.callers * o.perCaller);
    let flaggedRequests = 0,
      flaggedCallers = 0,
      requests = 0;
    for (let c = 0; c < o.callers; c++) {
      const key = addKey(g.keysFile, 'clinician', `benign ${c}`).apiKey;
      const r = await benignReplay(
        base,
        key,
        imgs.slice(c * o.perCaller, (c + 1) * o.perCaller).map((i) => i.pixels),
      );
      requests += r.requests;
      flaggedRequests += r.flagged;
      if (r.flagged) flaggedCallers++;
    }
    // Victims: test images (from index 300 on) that the model classifies correctly, so an attack has work to do.
    const victims: Array<{ x: Float32Array; label: number; index: number }> = [];
    for (const [i, im] of (await testImages(200, 300)).entries()) {
      if (victims.length >= o.attacks) break;
      const x = Float32Array.from(im.pixels, (v) => v / 255);
      const p = await model.predictProbs(x, 1);
      if ((p[1] > p[0] ? 1 : 0) === im.label) victims.push({ x, label: im.label, index: 300 + i });
    }
    const attacks: QueryEval['attacks'] = [];
    for (const name of GATEWAY_ATTACKS) {
      for (let i = 0; i < victims.length; i++) {
        const k = addKey(g.keysFile, 'clinician', `${name} attacker ${i}`);
        const r = await attackGateway({
          base,
          apiKey: k.apiKey,
          attack: name,
          x: victims[i].x,
          label: victims[i].label,
          meta,
          eps: name === 'hsj' ? o.hsjEps : o.eps,
          budget: o.budget,
          seed: o.seed + i,
          concurrency: o.concurrency,
        });
        attacks.push({
          attack: name,
          image: victims[i].index,
          queries: r.queries,
          detectedAt: await detectionFromAudit(gw.ctx.audit, k.id),
          success: r.success,
        });
      }
    }
    const detection: QueryEval['detection'] = {};
    for (const name of GATEWAY_ATTACKS) {
      const runs = attacks.filter((a) => a.attack === name);
      const d = runs
        .map((a) => a.detectedAt)
        .filter((v): v is number => v !== null)
        .sort((a, b) => a - b);
      detection[name] = {
        runs: runs.length,
        detected: d.length,
        detectedWithin200: d.filter((v) => v <= 200).length,
        succeededUndetected: runs.filter((a) => a.detectedAt === null && a.success).length,
        successes: runs.filter((a) => a.success).length,
        medianDelay: d.length ? d[Math.floor(d.length / 2)] : null,
        maxDelay: d.length ? d[d.length - 1] : null,
      };
    }
    return {
      model: o.model,
      settings: {
        budget: o.budget,
        eps: o.eps,
        hsjEps: o.hsjEps,
        concurrency: o.concurrency,
        seed: o.seed,
        output: 'probs, 4 decimals (HSJ reads the label only)',
      },
      benign: {
        callers: o.callers,
        requests,
        flaggedRequests,
        flaggedCallers,
        requestRate: flaggedRequests / requests,
        callerRate: flaggedCallers / o.callers,
      },
      attacks,
      detection,
    };
  } finally {
    await gw.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'default' },
      callers: { type: 'string', default: '6' },
      'per-caller': { type: 'string', default: '104' },
      attacks: { type: 'string', default: '5' },
      budget: { type: 'string', default: '200' },
      eps: { type: 'string', default: '0.05' },
      'hsj-eps': { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '4' },
      seed: { type: 'string', default: '0' },
    },
  });
  const engine = await initEngine({ backend: 'auto' }); // as `medshield serve`
  const r = await runQueryEval({
    model: values.model!,
    callers: +values.callers!,
    perCaller: +values['per-caller']!,
    attacks: +values.attacks!,
    budget: +values.budget!,
    eps: +values.eps!,
    hsjEps: +values['hsj-eps']!,
    concurrency: +values.concurrency!,
    seed: +values.seed!,
  });
  process.stdout.write(JSON.stringify({ backend: engine.backend, ...r }, null, 1) + '\n');
  process.exit(0);
}
