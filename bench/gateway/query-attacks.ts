/**
 * Query-attack evaluation through the gateway's HTTP endpoint with medshield's OWN black-box attacks:
 * `square` (src/attacks/algorithms/square.ts), `simba` (simba.ts) and `hsj` (hsj.ts, decision-only) run against an
 * `HttpTarget` (src/attacks/targets/http-target.ts) on `<base>/v1/infer` with PNG bodies — exactly what
 * `medshield attack --attack square --target-url <base>/v1/infer --target-format png --api-key KEY` does
 * (the same `openTarget` → `HttpTarget` path). Each attack run uses its own API key, so the gateway's
 * per-caller detector sees one attacker.
 *
 * What the attacker sees: Square and SimBA need scores, so the gateway must answer with probabilities
 * (`output.mode: probs`); HopSkipJump uses only the label (`--target-output label`). The detection delay
 * is read from the gateway's audit log, as an operator would: the caller's `SecurityAlert` record
 * (route `query-detector`, "query attack suspected after N queries") gives N, the number of that
 * caller's queries the detector had seen when it flagged the caller.
 */
import { openTarget } from '../../src/attacks/targets/open-target.js';
import { getAttack } from '../../src/attacks/registry.js';
import type { QueryAttack } from '../../src/attacks/query.js';
import type { HttpTarget } from '../../src/attacks/targets/http-target.js';
import type { Task } from '../../src/data/medmnist.js';
import type { AuditStore } from '../../src/gateway/audit/store.js';
import type { AuditLog } from '../../src/gateway/audit/log.js';
import { pngBytes, infer } from './fixtures.js';
import { ATTACK_FLAG } from '../../src/gateway/plugins/query-guard.js';

export type GatewayAttack = 'square' | 'simba' | 'hsj';

export interface AttackRun {
  attack: GatewayAttack;
  /** Images sent by the attack (HttpTarget.queries; the budget is `budget`). */
  queries: number;
  /** The caller's query count when the gateway flagged it, or null (never flagged). */
  detectedAt: number | null;
  /**
   * The attack met its goal (Square/SimBA: misclassified inside the L∞ ε ball; HSJ: an adversarial point within L2 ε).
   */
  success: boolean;
}

export interface TargetMeta {
  inputShape: [number, number, number];
  classes: string[];
  task: Task;
}

/** Query number at which the gateway flagged caller `keyId` (from its audit log), or null. */
export async function detectionFromAudit(audit: AuditLog | AuditStore, keyId: string): Promise<number | null> {
  const store: AuditStore = 'store' in audit ? (await audit.flush(), audit.store) : audit;
  for (let after = 0; ; ) {
    const page = await store.page(after, 5000);
    if (!page.length) return null;
    for (const r of page) {
      if (r.route === 'query-detector' && r.userId === keyId) {
        const m = /after (\d+) queries/.exec(r.reason ?? '');
        return m ? Number(m[1]) : null;
      }
    }
    after = page[page.length - 1].seq;
  }
}

/**
 * Run one of medshield's query attacks on one image (HWC in [0,1], `label` its true class) against the
 * gateway at `base`, as caller `apiKey`. `eps`: L∞ radius for Square/SimBA, L2 radius for HSJ.
 * `earlyStop` (HSJ) stops once an adversarial point within ε is found.
 */
export async function attackGateway(o: {
  base: string;
  apiKey: string;
  attack: GatewayAttack;
  x: Float32Array;
  label: number;
  meta: TargetMeta;
  eps: number;
  budget: number;
  seed: number;
  concurrency?: number;
  earlyStop?: boolean;
}): Promise<{ queries: number; success: boolean }> {
  const attack = getAttack(o.attack) as QueryAttack;
  const target = (await openTarget({
    url: `${o.base}/v1/infer`,
    format: 'png',
    apiKey: o.apiKey,
    output: attack.threatModel === 'decision' ? 'label' : 'probabilities',
    concurrency: o.concurrency ?? 4,
    retries: 0,
    ...o.meta,
  })) as HttpTarget;
  const r = await attack.run(target, o.x, Int32Array.of(o.label), {
    eps: o.eps,
    norm: o.attack === 'hsj' ? 'l2' : 'linf',
    maxQueries: o.budget,
    seed: o.seed,
    ...(o.earlyStop !== undefined ? { earlyStop: o.earlyStop } : {}),
  });
  await target.close();
  return { queries: target.queries, success: r.success[0] === 1 };
}

/** Replay benign images (one caller, PNG, one at a time); returns how many answers carried the attack flag. */
export async function benignReplay(
  base: string,
  key: string,
  images: Uint8Array[],
): Promise<{ requests: number; flagged: number; firstFlagAt: number | null }> {
  let flagged = 0;
  let firstFlagAt: number | null = null;
  for (let i = 0; i < images.length; i++) {
    const r = await infer(base, key, pngBytes(images[i]), 'image/png');
    const f = r.status === 429 || (r.status === 200 && r.json.flags.includes(ATTACK_FLAG));
    if (f) {
      flagged++;
      firstFlagAt ??= i + 1;
    }
  }
  return { requests: images.length, flagged, firstFlagAt };
}
