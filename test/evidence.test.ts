/**
 * Evidence bundles (issue 23, view 6; acceptance 5): a real small campaign (the shipped default model, PGD on
 * 8 PneumoniaMNIST test films) is run into a SQLite store; `medshield evidence` writes the bundle with an EC
 * signer from `medshield keys init`; `medshield verify bundle.zip --trust CA` accepts it (exit 0), and changing
 * ANY file in it — one byte of each in turn, the manifest, the signature — or adding, dropping or duplicating
 * a file fails (exit 1); an unsigned bundle and an untrusted signer fail; a file that is not a zip is bad
 * input (exit 2, one line).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { strToU8, unzipSync, zipSync, type Zippable } from 'fflate';
import { cli, cliAsync, isCleanError } from './helpers.js';
import { verifyEvidence } from '../src/api/evidence.js';
import { pemCertificates } from '../src/provenance/index.js';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { chromium, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { createDashboard } from '../src/dashboard/server.js';
import { openDashboardStore } from '../src/dashboard/store.js';
import { ROOT } from './helpers.js';

const SPEC = `name: evidence-smoke
seed: 0
models: [{ ref: default }]
data: { dataset: pneumoniamnist, split: test, limit: 8 }
attacks:
  - { attack: pgd, eps: [8/255], steps: 5 }
shardSize: 8
`;

test('evidence bundle: the signed manifest verifies, and changing any file in the bundle fails', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-evidence-'));
  const spec = path.join(dir, 'smoke.yaml');
  writeFileSync(spec, SPEC);
  const store = `sqlite:${path.join(dir, 'results.db')}`;
  const env = { MEDSHIELD_THREADS: '1' };
  const run = await cliAsync(['campaign', 'run', spec, '--store', store, '--json'], { env });
  assert.equal(run.code, 0, run.stderr);
  const status = JSON.parse(run.stdout);
  assert.equal(status.status, 'done');
  const keys = cli(['keys', 'init', '--out', path.join(dir, 'pki'), '--json']);
  assert.equal(keys.code, 0, keys.stderr);
  const k = JSON.parse(keys.stdout) as {
    caCert: string;
    ecSignerKey: string;
    ecSignerCert: string;
    signerKey: string;
    signerCert: string;
  };
  const bundle = path.join(dir, 'bundle.zip');
  const ev = await cliAsync(
    [
      'evidence',
      '--campaign',
      status.id,
      '--store',
      store,
      '--out',
      bundle,
      '--key',
      k.ecSignerKey,
      '--cert',
      k.ecSignerCert,
      '--json',
    ],
    { env },
  );
  assert.equal(ev.code, 0, ev.stderr);
  const summary = JSON.parse(ev.stdout);
  assert.equal(summary.signed, true);

  const entries = unzipSync(new Uint8Array(readFileSync(bundle)));
  const names = Object.keys(entries).sort();
  for (const f of [
    'manifest.json',
    'manifest.jws',
    'campaign/spec.json',
    'campaign/status.json',
    'campaign/results.csv',
    'campaign/report.html',
    'models/default/model-card.json',
    'sbom.cdx.json',
    'gateway/threat-model.md',
    'README.txt',
  ])
    assert.ok(names.includes(f), `bundle has ${f}: ${names.join(', ')}`);
  const manifest = JSON.parse(Buffer.from(entries['manifest.json']).toString('utf8'));
  assert.equal(manifest.campaign.id, status.id);
  assert.equal(manifest.files.length, names.length - 2);
  assert.deepEqual(
    JSON.parse(Buffer.from(entries['campaign/status.json']).toString('utf8')).results,
    status.results,
    "the bundle holds the store's numbers",
  );
  assert.match(Buffer.from(entries['gateway/threat-model.md']).toString('utf8'), /^## 9\. Threat model/m);
  assert.equal(JSON.parse(Buffer.from(entries['sbom.cdx.json']).toString('utf8')).bomFormat, 'CycloneDX');
  assert.equal(
    JSON.parse(Buffer.from(entries['models/default/model-card.json']).toString('utf8')).weights.sha256.length,
    64,
  );

  const verify = (file: string, trust = k.caCert) => cli(['verify', file, '--trust', trust, '--json']);
  const ok = verify(bundle);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  const row = JSON.parse(ok.stdout)[0];
  assert.equal(row.valid, true);
  assert.equal(row.bundle, true);
  assert.match(row.reason, /files match the manifest signed by/);

  const write = (name: string, z: Zippable): string => {
    const p = path.join(dir, name);
    writeFileSync(p, zipSync(z));
    return p;
  };
  const copy = (): Zippable => Object.fromEntries(Object.entries(entries).map(([n, b]) => [n, Uint8Array.from(b)]));
  // One changed byte in each file, in turn (the manifest and its signature included): the library's verifier
  // for every file, the CLI for two of them.
  const trust = pemCertificates(readFileSync(k.caCert, 'utf8'));
  for (const n of names) {
    const z = copy();
    const b = z[n] as Uint8Array;
    b[Math.floor(b.length / 2)] ^= 0x01;
    const r = await verifyEvidence(zipSync(z), trust);
    assert.equal(r.valid, false, `changing ${n} fails verification`);
    if (n === 'campaign/report.html' || n === 'manifest.json') {
      const c = verify(write(`changed-${n.replace(/\//g, '_')}.zip`, z));
      assert.equal(c.code, 1, `medshield verify: changing ${n} fails (exit 1): ${c.stdout}${c.stderr}`);
      if (n === 'campaign/report.html')
        assert.match(JSON.parse(c.stdout)[0].reason, /campaign\/report\.html \(content differs/);
    }
  }
  // Added, dropped, renamed files; an unsigned bundle; another CA.
  const added = copy();
  added['campaign/extra.txt'] = strToU8('not in the manifest');
  assert.match((await verifyEvidence(zipSync(added), trust)).reason, /not listed in the manifest/);
  const dropped = copy();
  delete dropped['sbom.cdx.json'];
  assert.match((await verifyEvidence(zipSync(dropped), trust)).reason, /missing from the zip/);
  const unsigned = copy();
  delete unsigned['manifest.jws'];
  const u = verify(write('unsigned.zip', unsigned));
  assert.equal(u.code, 1);
  assert.match(JSON.parse(u.stdout)[0].reason, /not signed/);
  const other = cli(['keys', 'init', '--out', path.join(dir, 'pki2'), '--json']);
  const o = verify(bundle, JSON.parse(other.stdout).caCert);
  assert.equal(o.code, 1, 'a signer the verifier does not trust fails');
  // A zip with the same name twice is ambiguous: refused. (fflate writes what it is given; duplicate by hand.)
  const zipBytes = Buffer.from(readFileSync(bundle));
  const dup = path.join(dir, 'dup.zip');
  writeFileSync(dup, duplicateFirstEntry(zipBytes));
  assert.match((await verifyEvidence(readFileSync(dup), trust)).reason, /twice/, 'duplicate entry names are refused');
  // Not a zip at all / a zip without a manifest: bad input, exit 2, one line.
  const junk = path.join(dir, 'junk.zip');
  writeFileSync(junk, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(64, 7)]));
  assert.ok(isCleanError(verify(junk)), verify(junk).stderr);
  assert.ok(isCleanError(verify(write('no-manifest.zip', { 'a.txt': strToU8('x') }))));
  // Without keys the bundle is built but says it is unsigned.
  const plain = await cliAsync(
    [
      'evidence',
      '--campaign',
      status.id,
      '--store',
      store,
      '--out',
      path.join(dir, 'plain.zip'),
      '--no-sbom',
      '--json',
    ],
    { env },
  );
  assert.equal(plain.code, 0, plain.stderr);
  assert.equal(JSON.parse(plain.stdout).signed, false);
  assert.equal(verify(path.join(dir, 'plain.zip')).code, 1);
  // The dashboard's button downloads the bundle, signed with the key its operator gave it.
  if (existsSync('/usr/bin/chromium')) {
    if (!existsSync(path.join(ROOT, 'dist', 'dashboard-ui', 'index.html'))) {
      const b = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-dashboard.mjs')], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, MEDSHIELD_QUIET: '1' },
      });
      assert.equal(b.status, 0, b.stderr);
    }
    process.env.MEDSHIELD_EVIDENCE_KEY = k.signerKey;
    process.env.MEDSHIELD_EVIDENCE_CERT = k.signerCert;
    const dstore = await openDashboardStore(store);
    const dash = await createDashboard({ store: dstore, storeLabel: store, host: '127.0.0.1' });
    const url = await dash.listen(0);
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    try {
      const page = await (await browser.newContext({ acceptDownloads: true })).newPage();
      await page.goto(`${url}/`);
      await page.click(`a[href="/evidence/${status.id}"]`);
      await page.waitForSelector('#evidence-signer');
      assert.match((await page.textContent('#evidence-signer')) ?? '', /signed by .*CN=/);
      await axe(page, '/evidence/:id');
      await page.goto(`${url}/evidence/${status.id}?sbom=0`);
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 300_000 }),
        page.click('#evidence-download'),
      ]);
      const saved = path.join(dir, 'from-dashboard.zip');
      await download.saveAs(saved);
      const v = verify(saved);
      assert.equal(v.code, 0, `the downloaded bundle verifies: ${v.stdout}`);
      assert.match(JSON.parse(v.stdout)[0].reason, /signed by "CN=medshield test RSA signer/);
    } finally {
      await browser.close();
      await dash.close();
      await dstore.close?.();
      delete process.env.MEDSHIELD_EVIDENCE_KEY;
      delete process.env.MEDSHIELD_EVIDENCE_CERT;
    }
  }
  // Bad arguments: one line, exit 2.
  assert.ok(
    isCleanError(
      cli(['evidence', '--campaign', 'nope', '--store', store, '--out', path.join(dir, 'x.zip'), '--no-sbom']),
    ),
  );
  assert.ok(
    isCleanError(
      cli([
        'evidence',
        '--campaign',
        status.id,
        '--store',
        store,
        '--out',
        path.join(dir, 'x.zip'),
        '--key',
        k.ecSignerKey,
      ]),
    ),
  );
});

/** A copy of a zip whose central directory lists its first entry twice (same name, same data). */
function duplicateFirstEntry(zip: Buffer): Buffer {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  const cdOff = zip.readUInt32LE(eocd + 16);
  const cdSize = zip.readUInt32LE(eocd + 12);
  const first = cdOff;
  const len = 46 + zip.readUInt16LE(first + 28) + zip.readUInt16LE(first + 30) + zip.readUInt16LE(first + 32);
  const entry = zip.subarray(first, first + len);
  const cd = Buffer.concat([zip.subarray(cdOff, cdOff + cdSize), entry]);
  const end = Buffer.from(zip.subarray(eocd, eocd + 22));
  end.writeUInt16LE(end.readUInt16LE(8) + 1, 8);
  end.writeUInt16LE(end.readUInt16LE(10) + 1, 10);
  end.writeUInt32LE(cd.length, 12);
  return Buffer.concat([zip.subarray(0, cdOff), cd, end]);
}

/** axe: no serious or critical accessibility violation (issue 23, acceptance 3). */
async function axe(page: Page, what: string): Promise<void> {
  const r = await new AxeBuilder({ page }).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map(
      (v) =>
        `${v.id} (${v.impact}): ${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(', ')}`,
    ),
    [],
    `axe on ${what}`,
  );
}
