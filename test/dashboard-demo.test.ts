/**
 * The dashboard's in-browser attack demo (issue 23, view 7; acceptance 2) in Debian's Chromium:
 * the shipped default model runs in the page (TensorFlow.js, wasm backend here: WebGL in headless
 * Chromium is SwiftShader, much slower), its probabilities equal the CLI's `medshield predict` on the same
 * signed film, its PGD flips the diagnosis at 8/255 and agrees with the CLI's `medshield attack --attack pgd`
 * on the same film with the same seed (same prediction after the attack, L∞ ≤ ε), no attack traffic
 * reaches the server, and the signed-film panel shows the original verifying and the tampered film failing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createDashboard } from '../src/dashboard/server.js';
import { readNpz } from '../src/data/npz.js';
import { ROOT, cliAsync } from './helpers.js';
import { CHROMIUM, launchChromium, axe } from './browser.js';

const IMG = path.join(ROOT, 'docs', 'img');
const EPS = 8 / 255;

interface PageState {
  ready: boolean;
  error: string | null;
  backend: string;
  weightsChecked: boolean | null;
  busy: boolean;
  film: number | null;
  label: number | null;
  cleanLogits: number[] | null;
  attack: null | {
    film: number;
    eps: number;
    seed: number;
    success: boolean;
    linf: number;
    advLogits: number[];
    xAdv: number[];
  };
  original: { valid: boolean; reason: string } | null;
  tampered: { valid: boolean; reason: string } | null;
}

const softmax = (z: number[]): number[] => {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};
const argmax = (z: number[]): number => z.indexOf(Math.max(...z));

/**
 * Build the front end if needed (the dashboard's bundle first: its build empties dist/dashboard-ui), then the
 * dashboard.
 */
async function startServer(): Promise<{ url: string; close: () => Promise<void> }> {
  const ui = path.join(ROOT, 'dist', 'dashboard-ui');
  for (const [script, built] of [
    ['build-dashboard.mjs', 'index.html'],
    ['build-demo-ui.mjs', path.join('assets', 'demo', 'demo.js')],
  ]) {
    if (existsSync(path.join(ui, built))) continue;
    const b = spawnSync(process.execPath, [path.join(ROOT, 'scripts', script)], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, MEDSHIELD_QUIET: '1' },
    });
    assert.equal(b.status, 0, b.stderr);
  }
  const dash = await createDashboard({ host: '127.0.0.1' });
  const url = await dash.listen(0);
  return { url, close: () => dash.close() };
}

test('the in-browser demo: model, PGD flip at 8/255 agreeing with the CLI, signed film fails after tampering', {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian package chromium)`,
}, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-demo-'));
  // The CLI's PGD on one seeded film each (`--limit 1 --seed S` picks test films 502 (normal) and 265 (pneumonia),
  // both diagnosed correctly): the page attacks the same film with the same seed, hence the same random start.
  const runs = await Promise.all(
    [1, 3].map(async (seed) => {
      const rec = path.join(dir, `records-${seed}.json`);
      const adv = path.join(dir, `adv-${seed}.npz`);
      const r = await cliAsync(
        [
          'attack',
          '--attack',
          'pgd',
          '--eps',
          '8/255',
          '--limit',
          '1',
          '--seed',
          String(seed),
          '--records',
          rec,
          '--save-adversarial',
          adv,
          '--json',
        ],
        { env: { MEDSHIELD_THREADS: '1' } },
      );
      assert.equal(r.code, 0, r.stderr);
      const records = JSON.parse(readFileSync(rec, 'utf8'));
      const row = (Array.isArray(records) ? records : records.records)[0];
      const xAdv = readNpz(new Uint8Array(readFileSync(adv))).adv_images.data as Float32Array;
      return { seed, film: row.index as number, row, xAdv };
    }),
  );
  const server = await startServer();
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext({ viewport: { width: 1100, height: 1180 } })).newPage();
    const foreign: string[] = [];
    const attackTraffic: string[] = [];
    let attacking = false;
    page.on('request', (r) => {
      if (!r.url().startsWith(server.url)) foreign.push(r.url());
      if (attacking && !r.url().includes('/verify')) attackTraffic.push(r.url());
    });
    const state = (): Promise<PageState> =>
      page.evaluate(() => (window as unknown as { medshieldDemo: PageState }).medshieldDemo);
    const waitIdle = async (): Promise<PageState> => {
      await page.waitForFunction(
        () => {
          const s = (window as unknown as { medshieldDemo: PageState }).medshieldDemo;
          return s && ((s.ready && !s.busy) || s.error);
        },
        null,
        { timeout: 600_000, polling: 250 },
      );
      const s = await state();
      assert.equal(s.error, null, `page error: ${s.error}`);
      return s;
    };
    let flipped = 0;
    for (const [k, run] of runs.entries()) {
      if (k === 0) await page.goto(`${server.url}/demo?backend=wasm&film=${run.film}`);
      else {
        await page.selectOption('#film', String(run.film));
        await page.waitForFunction(
          (f) => (window as unknown as { medshieldDemo: PageState }).medshieldDemo.film === f,
          run.film,
        );
      }
      let s = await waitIdle();
      assert.equal(s.backend, 'wasm');
      assert.equal(s.weightsChecked, true, 'weights checked against the card');
      assert.equal(s.film, run.film);
      assert.equal(s.original?.valid, true, `original film verifies: ${s.original?.reason}`);
      // Probabilities equal the CLI's `predict` on the film the page received (the signed PNG).
      if (k === 0) {
        const png = path.join(dir, `film-${run.film}.png`);
        writeFileSync(
          png,
          Buffer.from(await (await fetch(`${server.url}/api/demo/films/${run.film}.png`)).arrayBuffer()),
        );
        const p = await cliAsync(['predict', png, '--json'], { env: { MEDSHIELD_THREADS: '1' } });
        assert.equal(p.code, 0, p.stderr);
        const cliProbs = JSON.parse(p.stdout)[0].probabilities as number[];
        const pageProbs = softmax(s.cleanLogits!);
        for (let j = 0; j < cliProbs.length; j++)
          assert.ok(Math.abs(cliProbs[j] - pageProbs[j]) < 1e-4, `page ${pageProbs} vs CLI predict ${cliProbs}`);
        assert.equal(argmax(s.cleanLogits!), run.row.cleanPrediction, 'clean prediction = the CLI attack record');
      }
      await page.fill('#seed', String(run.seed));
      await page.$eval('#eps', (el) => {
        (el as HTMLInputElement).value = '8';
        el.dispatchEvent(new Event('input'));
      });
      assert.equal(await page.textContent('#eps-value'), '8/255');
      attacking = true;
      await page.click('#attack');
      await page.waitForFunction(
        () => {
          const st = (window as unknown as { medshieldDemo: PageState }).medshieldDemo;
          return (st.tampered && !st.busy) || st.error;
        },
        null,
        { timeout: 600_000, polling: 250 },
      );
      attacking = false;
      s = await waitIdle();
      const a = s.attack!;
      assert.equal(a.film, run.film);
      assert.equal(a.seed, run.seed);
      assert.ok(Math.abs(a.eps - EPS) < 1e-12);
      assert.ok(a.linf <= EPS + 1e-6, `L∞ ${a.linf * 255}/255 ≤ 8/255`);
      const pagePred = argmax(a.advLogits);
      assert.equal(pagePred, run.row.adversarialPrediction, `film ${run.film}: page's prediction after PGD = CLI's`);
      assert.equal(run.row.attacked, true, 'the CLI attacked the film (diagnosed correctly before)');
      assert.equal(a.success, run.row.success, 'attack success agrees with the CLI');
      let maxDiff = 0;
      let same = 0;
      for (let j = 0; j < a.xAdv.length; j++) {
        const dd = Math.abs(a.xAdv[j] - run.xAdv[j]);
        maxDiff = Math.max(maxDiff, dd);
        if (dd < 1e-5) same++;
      }
      console.log(
        `film ${run.film} seed ${run.seed}: label ${run.row.label}, clean ` +
          `${run.row.cleanPrediction} → page ${pagePred} / CLI ${run.row.adversarialPrediction}; ` +
          `page L∞ ${(a.linf * 255).toFixed(3)}/255; adversarial pixels equal to the CLI's ` +
          `(±1e-5): ${same}/${a.xAdv.length}, max difference ${(maxDiff * 255).toFixed(3)}/255`,
      );
      if (pagePred !== run.row.label && run.row.cleanPrediction === run.row.label) flipped++;
      assert.equal(s.tampered?.valid, false, 'tampered film fails verification');
      assert.match(s.tampered!.reason, /does not match the image bytes/);
      assert.match((await page.textContent('#tampered-verify')) ?? '', /verification FAILED/);
      if (k === 0) {
        await axe(page, '/demo');
        mkdirSync(IMG, { recursive: true });
        await page.screenshot({ path: path.join(IMG, 'dashboard-demo.png') });
      }
    }
    assert.ok(flipped >= 1, "the page flipped the default model's diagnosis of at least one test film at 8/255");
    assert.deepEqual(attackTraffic, [], 'the attack made no request to the server (only the two verifications)');
    assert.deepEqual(foreign, [], 'nothing fetched from another origin');
    // Films beyond the split and forged pixel strings are refused cleanly.
    assert.equal((await fetch(`${server.url}/api/demo/films/624.png`)).status, 404);
    assert.equal((await fetch(`${server.url}/api/demo/films/0/verify?pixels=AAAA`)).status, 400);
    assert.equal((await fetch(`${server.url}/demo/model/..%2Fpackage.json`)).status, 404);
    // Only the demo page may compile WebAssembly; the dashboard's other pages keep the strict policy.
    assert.match(
      (await fetch(`${server.url}/demo`)).headers.get('content-security-policy') ?? '',
      /script-src 'self' 'wasm-unsafe-eval';/,
    );
    assert.doesNotMatch(
      (await fetch(`${server.url}/models`)).headers.get('content-security-policy') ?? '',
      /wasm-unsafe-eval/,
    );
  } finally {
    await browser.close();
    await server.close();
  }
});
