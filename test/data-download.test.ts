/**
 * downloadFile against a local HTTP server on 127.0.0.1 serving a real MedMNIST file
 * (RetinaMNIST, whose md5 bd4c0672f1bba3e3a89f0e4e876791e4 is the official one). No internet.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { PACKAGE_ROOT } from '../src/version.js';
import { MedshieldError } from '../src/errors.js';
import { cacheDir, downloadFile } from '../src/data/download.js';

const SOURCE = path.join(PACKAGE_ROOT, '..', 'shared', 'data', 'medmnist', 'retinamnist.npz');
const OFFICIAL_MD5 = 'bd4c0672f1bba3e3a89f0e4e876791e4';

let body: Buffer;
let server: http.Server;
let base: string;
let dir: string;

before(async () => {
  body = await readFile(SOURCE);
  dir = await mkdtemp(path.join(os.tmpdir(), 'medshield-dl-'));
  server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith('/files/retinamnist.npz')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.end(body);
    } else if (url === '/redirect') {
      res.writeHead(302, { location: '/files/retinamnist.npz?download=1' });
      res.end();
    } else if (url === '/truncated') {
      // Announce the full length, send half, then drop the connection.
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.write(body.subarray(0, body.length >> 1), () => res.socket?.destroy());
    } else if (url === '/chunked-abort') {
      // No content-length (chunked): the only sign of truncation is the aborted stream.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(body.subarray(0, 65536), () => res.socket?.destroy());
    } else if (url === '/stall') {
      // Headers and a first chunk, then silence (the socket stays open).
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
      res.write(body.subarray(0, 1024));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof MedshieldError, `expected MedshieldError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one-line message');
    return true;
  });
}

/** Only the listed names remain in the directory (no temporary leftovers). */
async function assertOnly(names: string[]): Promise<void> {
  assert.deepEqual((await readdir(dir)).sort(), [...names].sort());
}

test('downloads a real file, verifies the official md5 and reports progress', async () => {
  const dest = path.join(dir, 'ok', 'retinamnist.npz');
  let last: [number, number | null] = [0, null];
  const out = await downloadFile(`${base}/files/retinamnist.npz?download=1`, dest, {
    md5: OFFICIAL_MD5.toUpperCase(),
    onProgress: (d, t) => {
      last = [d, t];
    },
  });
  assert.equal(out, dest);
  const got = await readFile(dest);
  assert.equal(got.length, body.length);
  assert.equal(createHash('md5').update(got).digest('hex'), OFFICIAL_MD5);
  assert.deepEqual(last, [body.length, body.length]);
  assert.deepEqual(await readdir(path.join(dir, 'ok')), ['retinamnist.npz']);
});

test('follows redirects', async () => {
  const dest = path.join(dir, 'redirected.npz');
  await downloadFile(`${base}/redirect`, dest, { md5: OFFICIAL_MD5 });
  assert.equal((await readFile(dest)).length, body.length);
  await rm(dest);
});

test('md5 mismatch is a CHECKSUM error and leaves no file', async () => {
  const dest = path.join(dir, 'bad-md5.npz');
  await rejectsWith(
    downloadFile(`${base}/files/retinamnist.npz`, dest, { md5: '0'.repeat(32) }),
    'CHECKSUM',
    /checksum mismatch .*md5 bd4c0672/,
  );
  await assertOnly(['ok']);
});

test('HTTP 404 is a NETWORK error and leaves no file', async () => {
  const dest = path.join(dir, 'missing.npz');
  await rejectsWith(downloadFile(`${base}/nothing-here.npz`, dest), 'NETWORK', /HTTP 404/);
  await assertOnly(['ok']);
});

test('a truncated response (connection dropped) is a NETWORK error and leaves no file', async () => {
  const dest = path.join(dir, 'truncated.npz');
  await rejectsWith(
    downloadFile(`${base}/truncated`, dest, { md5: OFFICIAL_MD5 }),
    'NETWORK',
    /download of .*(failed|truncated)/,
  );
  await rejectsWith(downloadFile(`${base}/chunked-abort`, dest), 'NETWORK', /download of .*failed after \d+ bytes/);
  await assertOnly(['ok']);
});

test('connection refused is a NETWORK error', async () => {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  await rejectsWith(
    downloadFile(`http://127.0.0.1:${port}/x.npz`, path.join(dir, 'refused.npz')),
    'NETWORK',
    /ECONNREFUSED|fetch failed/,
  );
  await assertOnly(['ok']);
});

test('a stalled transfer is aborted after the idle timeout and leaves no file', async () => {
  const dest = path.join(dir, 'stalled.npz');
  await rejectsWith(
    downloadFile(`${base}/stall`, dest, { idleTimeoutMs: 300 }),
    'NETWORK',
    /failed after 1024 bytes: no data for 0\.3 s/,
  );
  await assertOnly(['ok']);
});

test('offline mode (MEDSHIELD_OFFLINE=1) refuses non-loopback hosts without touching the network', async () => {
  const saved = process.env.MEDSHIELD_OFFLINE;
  process.env.MEDSHIELD_OFFLINE = '1';
  try {
    const never: typeof fetch = async () => {
      throw new Error('fetch must not be called');
    };
    await rejectsWith(
      downloadFile('https://zenodo.org/records/10519652/files/retinamnist.npz?download=1', path.join(dir, 'r.npz'), {
        fetchImpl: never,
      }),
      'NETWORK',
      /^offline mode \(MEDSHIELD_OFFLINE=1\): not downloading https:\/\/zenodo\.org\/records\/10519652\/files\/retinamnist\.npz$/,
    );
    // Loopback stays allowed (local mirrors).
    await downloadFile(`${base}/files/retinamnist.npz`, path.join(dir, 'loop.npz'), { md5: OFFICIAL_MD5 });
    await rm(path.join(dir, 'loop.npz'));
  } finally {
    if (saved === undefined) delete process.env.MEDSHIELD_OFFLINE;
    else process.env.MEDSHIELD_OFFLINE = saved;
  }
  await assertOnly(['ok']);
});

test('cacheDir: flag, then MEDSHIELD_DATA, then ~/.cache/medshield', () => {
  const saved = process.env.MEDSHIELD_DATA;
  try {
    process.env.MEDSHIELD_DATA = '/tmp/from-env';
    assert.equal(cacheDir('/tmp/from-flag'), '/tmp/from-flag');
    assert.equal(cacheDir(), '/tmp/from-env');
    delete process.env.MEDSHIELD_DATA;
    assert.equal(cacheDir(), path.join(os.homedir(), '.cache', 'medshield'));
  } finally {
    if (saved === undefined) delete process.env.MEDSHIELD_DATA;
    else process.env.MEDSHIELD_DATA = saved;
  }
});
