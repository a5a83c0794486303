/**
 * The one registry shape (src/registry.ts) for attacks, defences, detectors and adaptive attacks:
 * kebab-case names, old spellings as aliases, a description and an ajv-compilable JSON Schema per
 * entry, and an unknown name refused with one line (exit 2) that names the closest — checked on the
 * shipped adversarially trained CNN and real PneumoniaMNIST test images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Ajv } from 'ajv';
import { isKebabCase, closestName, type Registry } from '../src/registry.js';
import { MedshieldError } from '../src/errors.js';
import { attackRegistry, ATTACKS, ATTACK_NAMES, getAttack } from '../src/attacks/registry.js';
import { defenceRegistry, getDefence, DEFENCE_NAMES } from '../src/defences/registry.js';
import { detectorRegistry, createDetector, DETECTOR_NAMES, DETECTORS } from '../src/detectors/registry.js';
import { adaptiveRegistry, getAdaptiveAttack, ADAPTIVE_ATTACKS } from '../src/attacks/adaptive/index.js';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import { loadDataset } from '../src/data/dataset.js';
import { selectImages } from '../src/data/images.js';
import type { DifferentiableModel } from '../src/models/model.js';
import { cli, isCleanError, ROOT } from './helpers.js';

await initEngine();

const REGISTRIES = [attackRegistry, defenceRegistry, detectorRegistry, adaptiveRegistry] as unknown as Array<
  Registry<unknown>
>;

test('every registry: kebab-case names, a description and a schema ajv compiles', () => {
  const ajv = new Ajv({ strict: true });
  for (const r of REGISTRIES) {
    assert.ok(r.names().length >= 6, r.what);
    for (const e of r.entries()) {
      assert.ok(isKebabCase(e.name), `${r.what} '${e.name}' is not kebab-case`);
      assert.ok(
        e.describe.summary.length > 10 && e.describe.reference.length > 5 && e.describe.kind,
        `${r.what} '${e.name}' describe`,
      );
      assert.equal(e.schema.type, 'object', `${r.what} '${e.name}' schema`);
      const v = ajv.compile(e.schema);
      assert.ok(v({}), `${r.what} '${e.name}': no options is valid`);
      assert.ok(!v({ noSuchOption: 1 }), `${r.what} '${e.name}': an unknown option is refused`);
      assert.equal(r.get(e.name.toUpperCase()), e, 'lookups ignore case');
    }
  }
  // attacks describe their threat model and norms; the schema offers exactly those norms
  for (const e of attackRegistry.entries()) {
    assert.ok(['whitebox', 'score', 'decision', 'transfer'].includes(e.describe.kind), e.name);
    assert.deepEqual((e.schema.properties as Record<string, { enum?: string[] }>).norm.enum, e.describe.norms);
  }
});

test('old names resolve as aliases; the legacy exports are views of the registries', () => {
  assert.deepEqual(detectorRegistry.names(), ['kd-bu', 'lid', 'mahalanobis', 'deepfeature-rf', 'squeeze', 'magnet']);
  assert.deepEqual(detectorRegistry.aliases(), { kd_bu: 'kd-bu', deepfeature_rf: 'deepfeature-rf' });
  for (const r of REGISTRIES)
    for (const [alias, name] of Object.entries(r.aliases())) assert.equal(r.get(alias).name, name, alias);
  assert.equal(detectorRegistry.canonical('KD_BU'), 'kd-bu');
  assert.equal(attackRegistry.canonical('apgd_ce'), 'apgd-ce');
  assert.equal(attackRegistry.canonical('hopskipjump'), 'hsj');
  // detectors keep reporting the names their JSON outputs and saved files always carried
  assert.equal(createDetector('kd_bu').name, 'kd_bu');
  assert.equal(createDetector('deepfeature-rf').name, 'deepfeature_rf');
  assert.deepEqual(DETECTOR_NAMES, ['kd_bu', 'lid', 'mahalanobis', 'deepfeature_rf', 'squeeze', 'magnet']);
  assert.equal(DETECTORS.kd_bu, detectorRegistry.get('kd-bu'));
  assert.deepEqual(ATTACK_NAMES, attackRegistry.names());
  assert.equal(getAttack('PGD'), ATTACKS.pgd);
  assert.deepEqual(DEFENCE_NAMES(), defenceRegistry.names());
  assert.equal(getAdaptiveAttack('apgd_ensemble'), ADAPTIVE_ATTACKS['apgd-ensemble']);
});

test('unknown names: one line naming the choices and the closest', () => {
  const cases: Array<[() => unknown, RegExp, string]> = [
    [() => getAttack('pdg'), /^unknown attack 'pdg': did you mean 'pgd'\? \(choose fgsm, /, 'UNSUPPORTED'],
    [() => getAttack('apgd-dl'), /did you mean 'apgd-dlr'\?/, 'UNSUPPORTED'],
    [() => createDetector('kd-b'), /^unknown detector 'kd-b': did you mean 'kd-bu'\?/, 'UNSUPPORTED'],
    [() => getDefence('jpg:q=50'), /^unknown defence 'jpg': did you mean 'jpeg'\?/, 'BAD_ARGUMENT'],
    [() => getAdaptiveAttack('eott'), /^unknown adaptive attack 'eott': did you mean 'eot'\?/, 'UNSUPPORTED'],
    [() => getAttack('nonesuch'), /^unknown attack 'nonesuch' \(choose /, 'UNSUPPORTED'],
  ];
  for (const [f, re, code] of cases) {
    assert.throws(
      f,
      (e: unknown) => e instanceof MedshieldError && e.code === code && re.test(e.message) && !e.message.includes('\n'),
      String(re),
    );
  }
  assert.equal(closestName('squeze', detectorRegistry.names()), 'squeeze');
  assert.equal(closestName('xyz', detectorRegistry.names()), undefined);
  // through the CLI: exit 2, one line, the suggestion included
  const r = cli([
    'attack',
    '--model',
    'models/adv-cnn',
    '--dataset',
    'pneumoniamnist',
    '--limit',
    '2',
    '--attack',
    'pdg',
    '--eps',
    '2/255',
  ]);
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /unknown attack 'pdg': did you mean 'pgd'\?/);
});

test('options are checked against the schema; create(options) makes them defaults', async () => {
  const bad: Array<[Registry<unknown>, string, unknown, RegExp]> = [
    [attackRegistry as never, 'pgd', { steps: 0 }, /attack 'pgd': 'steps' must be >= 1/],
    [attackRegistry as never, 'pgd', { maxQueries: 100 }, /attack 'pgd': has no option 'maxQueries'/],
    [attackRegistry as never, 'square', { norm: 'l1' }, /'norm' must be one of linf, l2/],
    [defenceRegistry as never, 'jpeg', { q: 0 }, /defence 'jpeg': 'q' must be >= 1/],
    [detectorRegistry as never, 'kd_bu', { passes: 'many' }, /detector 'kd-bu': 'passes' must be integer/],
  ];
  for (const [r, name, params, re] of bad) {
    assert.throws(
      () => r.create(name, params as never),
      (e: unknown) => e instanceof MedshieldError && e.code === 'BAD_ARGUMENT' && re.test(e.message),
      String(re),
    );
  }
  assert.equal(defenceRegistry.create('jpeg', { q: 50 }).spec, 'jpeg:q=50');
  assert.equal(defenceRegistry.create('smoothing', {}).spec, 'smoothing:sigma=0.25,n=100');

  // PGD with options bound by the registry gives the same images as PGD given them at run time.
  const model = (await loadModel(path.join(ROOT, 'models', 'adv-cnn'))) as DifferentiableModel;
  const data = await loadDataset('pneumoniamnist');
  const img = selectImages(data.splits.test, 8, 0);
  const bound = attackRegistry.create('pgd', { steps: 3, seed: 5 });
  assert.notEqual(bound, ATTACKS.pgd);
  const a = await bound.run(model as never, img.x, img.labels, { eps: 4 / 255 });
  const b = await ATTACKS.pgd.run(model as never, img.x, img.labels, { eps: 4 / 255, steps: 3, seed: 5 });
  assert.deepEqual(a.xAdv, b.xAdv);
  assert.deepEqual(a.success, b.success);
  assert.equal(a.queries.gradient, b.queries.gradient);
});
