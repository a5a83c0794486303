/**
 * Wrong-key floods against legitimate latency (issue 20, item 7: "16 wrong keys a second raised legitimate p50
 * latency 78 → 346 ms", because scrypt ran on every failed attempt). One legitimate client sends signed DICOM
 * (a real file of ../shared/data/dicom) one request at a time; meanwhile an attacker sends `--rate` wrong keys per
 * second — wrong secrets for the legitimate key's id (the expensive case: the id exists) — from `--addresses`
 * loopback source addresses (127.0.0.2, 127.0.0.3, …; Linux routes all of 127/8 to lo). Reports the legitimate
 * p50/p90 without and with the flood, how many attacker requests got 401 and 429, and how many scrypt hashes ran.
 *
 *   node dist/bench/gateway/auth-flood.js [--model default|DIR] [--rate 16] [--seconds 20] [--addresses 4] [--backend
 *   cpu]
 */
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { initEngine } from '../../src/engine/index.js';
import { loadModel } from '../../src/models/io.js';
import { createGateway, loadGatewayConfig } from '../../src/gateway/index.js';
import { PACKAGE_ROOT } from '../../src/version.js';
import { makeGatewayDir, infer } from './fixtures.js';
import { fuzzImages } from './fuzz-images.js';

function post(base: string, key: string, body: Buffer, localAddress: string): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      `${base}/v1/infer`,
      {
        method: 'POST',
        localAddress,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/dicom', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

const pct = (v: number[], p: number) => {
  const s = [...v].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))] * 10) / 10;
};

async function legit(base: string, key: string, body: Buffer, ms: number): Promise<number[]> {
  const lat: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t = performance.now();
    const r = await infer(base, key, body);
    if (r.status !== 200) throw new Error(`legitimate request answered ${r.status}`);
    lat.push(performance.now() - t);
  }
  return lat;
}

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      model: { type: 'string', default: 'default' },
      rate: { type: 'string', default: '16' },
      seconds: { type: 'string', default: '20' },
      addresses: { type: 'string', default: '4' },
      backend: { type: 'string', default: 'cpu' },
    },
  });
  await initEngine({ backend: a.backend as 'cpu' });
  const g = await makeGatewayDir(a.model!, (c) => {
    c.logging = { level: 'silent' };
    c.queryDetection = { ...c.queryDetection, enabled: false };
    c.rateLimit.perKey = { max: 1e6, windowMs: 60000 };
  });
  const cfg = loadGatewayConfig(g.config);
  const gw = await createGateway(cfg, { model: await loadModel(a.model!) });
  const base = await gw.listen(0, '127.0.0.1');
  const body = (await fuzzImages(g, path.join(PACKAGE_ROOT, '..', 'shared', 'data', 'dicom'))).signed[0];
  const ms = Number(a.seconds) * 1000;
  await legit(base, g.apiKey, body, 2000); // warm-up (and the legitimate key's one scrypt)
  const quiet = await legit(base, g.apiKey, body, ms);
  const h0 = gw.ctx.keys.hashes;
  // A different wrong secret each time (no two alike: nothing to share or remember).
  const wrong = () => `${g.apiKey.slice(0, 13)}${randomBytes(32).toString('base64url')}`;
  const counts: Record<string, number> = {};
  let stop = false;
  const addrs = Array.from({ length: Number(a.addresses) }, (_, i) => `127.0.0.${i + 2}`);
  const flood = (async () => {
    let i = 0;
    const pending: Array<Promise<void>> = [];
    while (!stop) {
      pending.push(
        post(base, wrong(), body, addrs[i++ % addrs.length]).then((s) => {
          counts[s] = (counts[s] ?? 0) + 1;
        }),
      );
      await new Promise((r) => setTimeout(r, 1000 / Number(a.rate)));
    }
    await Promise.all(pending);
  })();
  const loud = await legit(base, g.apiKey, body, ms);
  stop = true;
  await flood;
  const out = {
    rate: Number(a.rate),
    seconds: Number(a.seconds),
    addresses: addrs.length,
    quiet: { requests: quiet.length, p50ms: pct(quiet, 0.5), p90ms: pct(quiet, 0.9) },
    flooded: { requests: loud.length, p50ms: pct(loud, 0.5), p90ms: pct(loud, 0.9) },
    attacker: counts,
    scryptDuringFlood: gw.ctx.keys.hashes - h0,
    authFailureBudget: cfg.rateLimit.authFailures,
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  await gw.close();
}

main().catch((e) => {
  process.stderr.write(`auth-flood: ${(e as Error).message}\n`);
  process.exit(1);
});
