/**
 * Crash safety: `medshield serve` under concurrent load (bounded loop, 8 clients) is killed with SIGKILL
 * mid-run, restarted on the same config; the audit chain verifies and every request that received a 2xx
 * has its durable record (request id, status 200), and the restart first signs what the crash left unsigned (no
 * unsigned run longer than signEvery). Then a graceful SIGTERM stop signs the head and `medshield audit verify
 * --config` (signatures required, checkpoint compared) passes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { ROOT, cli } from './helpers.js';
import { makeGatewayDir, tinyModelDir, testImages, signedDicom, infer, request } from '../bench/gateway/fixtures.js';

function serve(config: string): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(
    process.execPath,
    [path.join(ROOT, 'bin', 'medshield.js'), 'serve', '--config', config, '--port', '0', '--json', '--backend', 'cpu'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let err = '';
  proc.stderr!.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error('serve did not start within 60 s'));
    }, 60_000);
    createInterface({ input: proc.stdout! }).once('line', (l) => {
      clearTimeout(t);
      resolve({ proc, url: JSON.parse(l).url });
    });
    proc.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`serve exited with ${code}: ${err.slice(-600)}`));
    });
  });
}

test('kill -9 under load: after restart every 2xx has its record and the chain verifies', async () => {
  const g = await makeGatewayDir(await tinyModelDir(), (c) => {
    c.logging = { level: 'warn' };
    c.audit.signEvery = 25;
  });
  const bodies = await Promise.all((await testImages(16)).map((im) => signedDicom(g, im.pixels)));
  let { proc, url } = await serve(g.config);
  const ok = new Set<string>();
  let sent = 0;
  let killed = false;
  const worker = async (w: number) => {
    for (let i = 0; i < 200 && !killed; i++) {
      sent++;
      try {
        const r = await infer(url, g.apiKey, bodies[(w + i) % bodies.length]);
        if (r.status === 200) ok.add(r.json.requestId);
        if (ok.size >= 60 && !killed) {
          killed = true;
          proc.kill('SIGKILL');
        }
      } catch {
        break; /* connection died with the server */
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));
  await new Promise((r) => (proc.exitCode !== null || proc.signalCode ? r(null) : proc.once('exit', r)));
  assert.equal(proc.signalCode, 'SIGKILL');
  assert.ok(ok.size >= 60, `${ok.size} answered before the kill`);

  ({ proc, url } = await serve(g.config));
  try {
    const v = await request(`${url}/v1/audit/verify`, { headers: { authorization: `Bearer ${g.auditorKey}` } });
    assert.equal(v.status, 200);
    assert.equal(v.json.valid, true, JSON.stringify(v.json));
    const recs = await request(`${url}/v1/audit?after=0&limit=10000`, {
      headers: { authorization: `Bearer ${g.auditorKey}` },
    });
    const served = new Set(
      recs.json.records
        .filter((r: { status: number }) => r.status === 200)
        .map((r: { requestId: string }) => r.requestId),
    );
    const missing = [...ok].filter((id) => !served.has(id));
    assert.deepEqual(missing, [], 'every 2xx has a durable record');
    // The restart signed what the crash left unsigned before anything else: no unsigned run is longer than signEvery.
    const all = recs.json.records as Array<{ seq: number; event: string; reason: string | null }>;
    const starts = all.map((r, i) => (/^gateway started/.test(r.reason ?? '') ? i : -1)).filter((i) => i >= 0);
    assert.equal(starts.length, 2);
    assert.equal(
      all[starts[1] - 1].event,
      'AuditLogSigned',
      'the restart signs the head the crash left before "gateway started"',
    );
    let run = 0;
    let longest = 0;
    for (const r of all) {
      run = r.event === 'AuditLogSigned' ? 0 : run + 1;
      longest = Math.max(longest, r.event === 'AuditLogSigned' ? 0 : run);
    }
    assert.ok(longest <= 25, `longest unsigned run ${longest} ≤ signEvery 25`);
    assert.equal((await infer(url, g.apiKey, bodies[0])).status, 200, 'serves again after restart');
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
  }
  assert.equal(proc.exitCode, 0, 'graceful shutdown exits 0');
  const r = cli(['audit', 'verify', '--config', g.config, '--json']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.valid, true);
  assert.ok(j.records > ok.size + 3);
  assert.ok(j.signatures >= 2 && j.signaturesChecked);
  void sent;
});
