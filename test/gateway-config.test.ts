/**
 * gateway.yaml: defaults filled from the schema, one-line errors naming the bad field, relative paths
 * resolved against the config folder, `gateway init` output accepted, docs/gateway.md's field table in
 * sync with the schema, and the CLI's clean errors (exit 2).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import {
  validateGatewayConfig,
  resolveConfigPaths,
  configReference,
  loadGatewayConfig,
  listKeys,
  uncommentExample,
} from '../src/gateway/index.js';
import { getDefence } from '../src/defences/registry.js';
import { ROOT, cli, isCleanError } from './helpers.js';

const minimal = { signature: { trustedCas: ['ca.pem'] } };

test('defaults come from the schema', () => {
  const c = validateGatewayConfig(minimal);
  assert.equal(c.model, 'default');
  assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8443 });
  assert.equal(c.signature.required, true);
  assert.deepEqual(c.inputs.contentTypes, ['application/dicom']);
  assert.equal(c.output.mode, 'top1');
  assert.equal(c.queryDetection.matchThreshold, 25);
  assert.equal(c.audit.url, 'sqlite:audit.db');
  const r = resolveConfigPaths(c, '/etc/medshield');
  assert.equal(r.audit.url, 'sqlite:/etc/medshield/audit.db');
  assert.equal(r.signature.trustedCas[0], '/etc/medshield/ca.pem');
  // shipped model names stay names; anything else is a path relative to the config
  assert.equal(
    resolveConfigPaths(validateGatewayConfig({ ...minimal, model: 'resnet18-w32' }), '/etc/medshield').model,
    'resnet18-w32',
  );
  assert.equal(
    resolveConfigPaths(validateGatewayConfig({ ...minimal, model: 'models/mine' }), '/etc/medshield').model,
    '/etc/medshield/models/mine',
  );
});

test('bad configs fail with one line naming the field', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ ...minimal, lsten: {} }, /must NOT have additional properties 'lsten'/],
    [
      { ...minimal, output: { mode: 'everything' } },
      /output\.mode must be equal to one of the allowed values \(label, top1, probs\)/,
    ],
    [{ ...minimal, listen: { port: 70000 } }, /listen\.port must be <= 65535/],
    [{ signature: { required: true } }, /signature\.required needs at least one signature\.trustedCas entry/],
    [{ ...minimal, tls: { cert: 'a.pem' } }, /tls\.cert and tls\.key go together/],
  ];
  for (const [raw, re] of cases)
    assert.throws(
      () => validateGatewayConfig(raw),
      (e: Error) => re.test(e.message) && !e.message.includes('\n'),
      String(re),
    );
});

test('docs/gateway.md lists every field with its default (in sync with the schema)', () => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'gateway.md'), 'utf8');
  const m = /<!-- config-reference:start -->\n([\s\S]*?)\n<!-- config-reference:end -->/.exec(doc);
  assert.ok(m, 'reference block present');
  assert.equal(m![1].trim(), configReference().trim());
});

test('gateway init writes a valid config, 0600 keys, and prints the paths and key once', () => {
  const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'medshield-init-')), 'gw');
  const r = cli(['gateway', 'init', '--out', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  for (const k of ['config', 'apiKey', 'signerKey', 'signerCert', 'caCert']) assert.ok(j[k], k);
  assert.match(j.apiKey, /^msk_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$/);
  const cfg = loadGatewayConfig(j.config);
  assert.equal(cfg.signature.trustedCas[0], j.caCert);
  assert.equal(statSync(j.signerKey).mode & 0o777, 0o600);
  const keysText = readFileSync(cfg.auth.keysFile, 'utf8');
  assert.ok(!keysText.includes(j.apiKey.slice(14)), 'the secret is not stored');
  assert.deepEqual(
    listKeys(cfg.auth.keysFile).map((k) => k.role),
    ['clinician', 'auditor'],
  );
  // The optional input screening is shown commented out, documented, and valid once uncommented.
  const text = readFileSync(j.config, 'utf8');
  assert.equal(cfg.defences.length + cfg.detectors.length, 0, 'input screening is off as written');
  assert.match(text, /^# defences: \['jpeg:q=75'\]$/m);
  assert.match(text, /^# detectors:\n# {3}- \{ dir: detectors\/squeeze, threshold: [\d.]+, action: reject \}$/m);
  assert.match(text, /medshield detect --model default --detector squeeze .*--save detectors\/squeeze/);
  assert.match(text, /threshold: the 5 %-false-positive `threshold` that `detect --json` prints/);
  const on = validateGatewayConfig(YAML.parse(uncommentExample(text)), 'uncommented example');
  assert.deepEqual(on.defences, ['jpeg:q=75']);
  assert.deepEqual(on.detectors, [{ dir: 'detectors/squeeze', threshold: 0.9022, action: 'reject' }]);
  for (const spec of on.defences) assert.doesNotThrow(() => getDefence(spec), spec);
  const { defences: _d, detectors: _t, ...rest } = on;
  assert.deepEqual(
    rest,
    (({ defences: _a, detectors: _b, ...x }) => x)(validateGatewayConfig(YAML.parse(text))),
    'nothing else changes',
  );
  const again = cli(['gateway', 'init', '--out', dir]);
  assert.ok(isCleanError(again), again.stderr);
  assert.match(again.stderr, /exists and is not empty/);
  const rev = cli(['gateway', 'key', 'revoke', '--config', j.config, j.apiKey.slice(4, 12), '--json']);
  assert.equal(rev.code, 0, rev.stderr);
  assert.ok(JSON.parse(rev.stdout).revoked);
});

test('serve and audit verify fail cleanly on bad configs', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'medshield-badcfg-'));
  const f = path.join(dir, 'gateway.yaml');
  writeFileSync(f, 'signature:\n  trustedCas: [ca.pem]\nbogus: 1\n');
  for (const args of [
    ['serve', '--config', f],
    ['audit', 'verify', '--config', f],
    ['audit', 'verify', '--db', path.join(dir, 'none.db')],
    ['serve', '--config', path.join(dir, 'missing.yaml')],
  ]) {
    const r = cli(args, { timeoutMs: 60_000 });
    assert.ok(isCleanError(r), `${args.join(' ')}: ${r.code} ${r.stderr}`);
  }
});

test('medshield sbom writes a CycloneDX document listing the gateway dependencies', () => {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'medshield-sbom-')), 'sbom.json');
  const r = cli(['sbom', '--out', out], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const bom = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(bom.bomFormat, 'CycloneDX');
  assert.equal(bom.specVersion, '1.6');
  assert.equal(bom.metadata.component.name, 'medshield');
  const names = new Set(bom.components.map((c: { name: string }) => c.name));
  for (const n of ['fastify', 'prom-client', 'node-sqlite3-wasm', 'pg']) assert.ok(names.has(n), n);
  assert.ok(!names.has('typescript'), 'dev dependencies omitted');
});
