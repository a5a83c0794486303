/**
 * The transfer experiment table of docs/blackbox.md: adversarial images crafted white-box on a surrogate
 * (or a logit ensemble of several), sent once to the target; robust accuracy of the target (and of the
 * surrogate itself) on a seeded sample of PneumoniaMNIST test films, per base attack and ε.
 *
 *   node dist/bench/transfer/table.js --target default --surrogate surrogate --limit 200 \
 *     --eps 2,4,8,16 --configs pgd,pgd-es,bim,fgsm,mifgsm,difgsm,mdifgsm [--grad-stats]
 *
 * ε is in /255. Each config is a base attack and its options (below); every config runs without early
 * stopping unless its name says `-es`. One JSON line per (config, ε); --grad-stats prints, per surrogate,
 * the fraction of films whose first input gradient is exactly zero (a saturated softmax) and the mean
 * clean margin.
 */
import { initEngine } from '../../src/engine/index.js';
import { loadDataset } from '../../src/data/dataset.js';
import { selectImages } from '../../src/data/images.js';
import { loadClassifier } from '../../src/models/io.js';
import { EnsembleModel } from '../../src/models/ensemble.js';
import { getAttack } from '../../src/attacks/registry.js';
import { makeGoal } from '../../src/attacks/goal.js';
import { Oracle } from '../../src/attacks/targets/oracle.js';
import { judge, probabilities } from '../../src/eval/robustness.js';
import type { AttackOptions } from '../../src/attacks/types.js';
import type { DifferentiableModel } from '../../src/models/model.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};

/** name → base attack and options (ε-relative step sizes are multiplied by ε). */
const CONFIGS: Record<string, { attack: string; opts: Partial<AttackOptions>; alpha?: number }> = {
  pgd: { attack: 'pgd', opts: { steps: 20, earlyStop: false } }, // α = ε/4, random start
  'pgd-es': { attack: 'pgd', opts: { steps: 20, earlyStop: true } },
  'pgd-a8': { attack: 'pgd', opts: { steps: 20, earlyStop: false }, alpha: 1 / 8 },
  'pgd-cw': { attack: 'pgd', opts: { steps: 20, earlyStop: false, loss: 'cw' } },
  'pgd-50': { attack: 'pgd', opts: { steps: 50, earlyStop: false } },
  bim: { attack: 'bim', opts: { steps: 20, earlyStop: false }, alpha: 1 / 10 },
  'bim-10': { attack: 'bim', opts: { steps: 10, earlyStop: false }, alpha: 1 / 10 },
  fgsm: { attack: 'fgsm', opts: {} },
  mifgsm: { attack: 'mifgsm', opts: { steps: 10, earlyStop: false } }, // α = ε/10, µ = 1
  'mifgsm-20': { attack: 'mifgsm', opts: { steps: 20, earlyStop: false }, alpha: 1 / 4 },
  difgsm: { attack: 'difgsm', opts: { steps: 20 } }, // α = ε/4, µ = 0, ρ 0.9, p 0.5
  mdifgsm: { attack: 'difgsm', opts: { steps: 20, decay: 1 } },
  'mdifgsm-10': { attack: 'difgsm', opts: { steps: 10, decay: 1 }, alpha: 1 / 10 },
};

await initEngine({ threads: Number(process.env.MEDSHIELD_THREADS ?? 1) });
const target = await loadClassifier(flag('--target', 'default'));
const members = await Promise.all(
  flag('--surrogate', 'surrogate')
    .split(',')
    .map((s) => loadClassifier(s)),
);
const surrogate: DifferentiableModel = members.length === 1 ? members[0] : new EnsembleModel(members);
const data = await loadDataset(flag('--dataset', 'pneumoniamnist'));
const img = selectImages(data.splits.test, Number(flag('--limit', '200')), Number(flag('--seed', '0')));
const batch = Number(flag('--batch', '100'));
const epsList = flag('--eps', '8')
  .split(',')
  .map((e) => Number(e));
const d = img.x.length / img.n;

const accuracy = async (m: DifferentiableModel, x: Float32Array): Promise<number> => {
  const j = judge(m, await probabilities(m, x, img.n), img.labels, img.n);
  return j.correct.reduce((s, v) => s + v, 0) / img.n;
};
const r4 = (v: number): number => Math.round(v * 1e4) / 1e4;

const head = {
  target: target.card.name,
  surrogate: surrogate.card.name,
  n: img.n,
  clean: r4(await accuracy(target, img.x)),
  surrogateClean: r4(await accuracy(surrogate, img.x)),
};
process.stdout.write(JSON.stringify(head) + '\n');

if (args.includes('--grad-stats')) {
  for (const m of [surrogate, target]) {
    const goal = makeGoal(m.task, m.classes.length, img.labels, undefined, 'all');
    const g = await new Oracle(m).lossGrad(img.x, goal, (v) => goal.loss(v, 'ce'));
    let zero = 0;
    let margin = 0;
    const mr = goal.marginRows(g.logits);
    for (let i = 0; i < img.n; i++) {
      let any = false;
      for (let j = 0; j < d && !any; j++) any = g.grad[i * d + j] !== 0;
      if (!any) zero++;
      margin += Math.abs(mr[i]);
    }
    process.stdout.write(
      JSON.stringify({ model: m.card.name, zeroGradientFilms: zero, meanAbsMargin: r4(margin / img.n) }) + '\n',
    );
  }
}

for (const name of flag('--configs', 'pgd').split(',')) {
  const c = CONFIGS[name];
  if (!c) throw new Error(`unknown config ${name} (${Object.keys(CONFIGS).join(', ')})`);
  const base = getAttack(c.attack);
  for (const e of epsList) {
    const eps = e / 255;
    const t0 = performance.now();
    const xAdv = new Float32Array(img.x.length);
    for (let s = 0; s < img.n; s += batch) {
      const m = Math.min(batch, img.n - s);
      const r = await base.run(surrogate as never, img.x.subarray(s * d, (s + m) * d), img.labels.subarray(s, s + m), {
        eps,
        seed: 0,
        ...c.opts,
        ...(c.alpha ? { stepSize: c.alpha * eps } : {}),
      });
      xAdv.set(r.xAdv, s * d);
    }
    const row = {
      config: name,
      attack: c.attack,
      options: { ...c.opts, ...(c.alpha ? { stepSize: `ε·${r4(c.alpha)}` } : {}) },
      eps: `${e}/255`,
      target: r4(await accuracy(target, xAdv)),
      surrogate: r4(await accuracy(surrogate, xAdv)),
      seconds: Math.round((performance.now() - t0) / 100) / 10,
    };
    process.stdout.write(JSON.stringify(row) + '\n');
  }
}
