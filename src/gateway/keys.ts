/**
 * API keys for the gateway. A key is `msk_<id>_<secret>` (id: 8 hex chars, public; secret: 32 random
 * bytes base64url). Only an scrypt hash of the secret is stored (RFC 7914; node crypto, N=2^14, r=8,
 * p=1, 16-byte salt), with the key's role and revocation time. Roles: `clinician` may infer, `auditor`
 * may read the audit log, `admin` may do both and manage keys.
 *
 * scrypt costs ~50 ms by design: checks run it asynchronously (libuv thread pool) so a flood of wrong keys
 * does not stall the server's event loop, and a successful check is remembered in memory (keyed by the SHA-256
 * of the presented key, never the key itself) until the keys file changes; revocation rewrites the file,
 * which drops the memory on the next request.
 */
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { badArgument, badInput, notFound } from '../errors.js';

export type Role = 'clinician' | 'auditor' | 'admin';
export const ROLES: Role[] = ['clinician', 'auditor', 'admin'];

export interface StoredKey {
  id: string;
  role: Role;
  label: string;
  salt: string;
  hash: string;
  created: string;
  revoked: string | null;
}

export interface KeyFile {
  version: 1;
  scrypt: { N: number; r: number; p: number };
  keys: StoredKey[];
}

const SCRYPT = { N: 16384, r: 8, p: 1 };

function hashSecret(secret: string, salt: Buffer, params = SCRYPT): Buffer {
  return scryptSync(secret, salt, 32, { N: params.N, r: params.r, p: params.p, maxmem: 64 * 1024 * 1024 });
}

export function readKeyFile(file: string): KeyFile {
  if (!existsSync(file)) throw notFound(`API keys file '${file}' does not exist (run medshield gateway init)`);
  let raw: KeyFile;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw badInput(`API keys file '${file}' is not valid JSON`);
  }
  if (raw?.version !== 1 || !Array.isArray(raw.keys))
    throw badInput(`API keys file '${file}' is not a medshield keys file`);
  return raw;
}

function writeKeyFile(file: string, kf: KeyFile): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(kf, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

/** Add a fresh key with `role`; returns the full key (shown once) and its id. Creates the file if needed. */
export function addKey(file: string, role: Role, label = ''): { apiKey: string; id: string } {
  if (!ROLES.includes(role)) throw badArgument(`role must be one of ${ROLES.join(', ')}, got '${role}'`);
  const kf: KeyFile = existsSync(file) ? readKeyFile(file) : { version: 1, scrypt: SCRYPT, keys: [] };
  let id: string;
  do id = randomBytes(4).toString('hex');
  while (kf.keys.some((k) => k.id === id));
  const secret = randomBytes(32).toString('base64url');
  const salt = randomBytes(16);
  kf.keys.push({
    id,
    role,
    label,
    salt: salt.toString('base64'),
    hash: hashSecret(secret, salt, kf.scrypt).toString('base64'),
    created: new Date().toISOString(),
    revoked: null,
  });
  writeKeyFile(file, kf);
  return { apiKey: `msk_${id}_${secret}`, id };
}

export function revokeKey(file: string, id: string): StoredKey {
  const kf = readKeyFile(file);
  const k = kf.keys.find((x) => x.id === id);
  if (!k) throw notFound(`no API key with id '${id}'`);
  k.revoked ??= new Date().toISOString();
  writeKeyFile(file, kf);
  return k;
}

export function listKeys(file: string): Array<Omit<StoredKey, 'salt' | 'hash'>> {
  return readKeyFile(file).keys.map(({ id, role, label, created, revoked }) => ({ id, role, label, created, revoked }));
}

export type KeyCheck =
  | { ok: true; id: string; role: Role }
  | { ok: false; id: string | null; reason: string; hashed?: boolean; busy?: boolean };

/** Verified keys remembered (by SHA-256 of the presented key), least recently used dropped first. */
export const VERIFIED_CACHE_SIZE = 1024;
/** scrypt runs at most this many at a time (the libuv pool stays free for everything else) … */
export const SCRYPT_CONCURRENCY = 2;
/** … and at most this many checks wait for one; more are refused at once (the caller retries). */
export const SCRYPT_QUEUE = 64;
/**
 * … and at most this many start per second over all callers (token bucket, burst 2×): a wrong-key flood spread
 * over many addresses, each within its failure budget, still cannot take more than a fraction of a core. Keys
 * already verified never need a hash, so their callers do not notice.
 */
export const SCRYPT_PER_SECOND = 2;

/**
 * Checks presented keys against the file; re-reads the file when its mtime/size change.
 *
 * Cost control (issue 20, item 7: 16 wrong keys a second raised legitimate p50 latency 78 → 346 ms): the key is
 * looked up by its public id first, and scrypt runs only for an existing, unrevoked id whose key is not already
 * verified (bounded LRU); at most SCRYPT_PER_SECOND hashes start per second and SCRYPT_CONCURRENCY run at once,
 * SCRYPT_QUEUE wait, the rest are refused (429, retry).
 * The per-address failure limit in front of this (plugins/auth.ts) keeps one address from hashing more than a few
 * times per window.
 */
export class KeyStore {
  private kf: KeyFile | null = null;
  private stamp = '';
  private verified = new Map<string, string>();
  private running = 0;
  /** Checks in progress by key fingerprint: concurrent requests with the same unverified key share one scrypt. */
  private inFlight = new Map<string, Promise<KeyCheck>>();
  private waiting: Array<() => void> = [];
  /** Smoothed duration of one scrypt check (ms), for the failure-delay floor of plugins/auth.ts. */
  scryptMs = 50;
  /** scrypt checks run so far (tests, metrics). */
  hashes = 0;

  constructor(readonly file: string) {
    this.reload();
  }

  private reload(): void {
    let st;
    try {
      st = statSync(this.file);
    } catch {
      throw notFound(`API keys file '${this.file}' does not exist`);
    }
    const stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (stamp === this.stamp) return;
    this.kf = readKeyFile(this.file);
    this.stamp = stamp;
    this.verified.clear();
  }

  private tokens = 2 * SCRYPT_PER_SECOND;
  private refilled = performance.now();

  private takeToken(): boolean {
    const now = performance.now();
    this.tokens = Math.min(2 * SCRYPT_PER_SECOND, this.tokens + ((now - this.refilled) / 1000) * SCRYPT_PER_SECOND);
    this.refilled = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T | null> {
    if (!this.takeToken()) return null;
    if (this.running >= SCRYPT_CONCURRENCY) {
      if (this.waiting.length >= SCRYPT_QUEUE) return null;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  async check(presented: string | undefined): Promise<KeyCheck> {
    if (!presented) return { ok: false, id: null, reason: 'no API key (send Authorization: Bearer <key>)' };
    const m = /^msk_([0-9a-f]{8})_([A-Za-z0-9_-]{20,64})$/.exec(presented);
    if (!m) return { ok: false, id: null, reason: 'malformed API key' };
    try {
      this.reload();
    } catch {
      return { ok: false, id: m[1], reason: 'API keys file unreadable' };
    }
    const k = this.kf!.keys.find((x) => x.id === m[1]);
    if (!k) return { ok: false, id: m[1], reason: 'unknown API key' };
    if (k.revoked) return { ok: false, id: k.id, reason: `API key revoked ${k.revoked}` };
    const fp = createHash('sha256').update(presented).digest('base64');
    if (this.verified.get(fp) === k.id) {
      this.verified.delete(fp);
      this.verified.set(fp, k.id); // most recently used last
      return { ok: true, id: k.id, role: k.role };
    }
    const pending = this.inFlight.get(fp);
    if (pending) return pending;
    const p1 = this.hashCheck(k, m[2], fp).finally(() => this.inFlight.delete(fp));
    this.inFlight.set(fp, p1);
    return p1;
  }

  private async hashCheck(k: StoredKey, secret: string, fp: string): Promise<KeyCheck> {
    const want = Buffer.from(k.hash, 'base64');
    const p = this.kf!.scrypt;
    const stamp = this.stamp;
    const got = await this.slot(() => {
      const t0 = performance.now();
      this.hashes++;
      return new Promise<Buffer>((resolve, reject) =>
        scrypt(
          secret,
          Buffer.from(k.salt, 'base64'),
          32,
          { N: p.N, r: p.r, p: p.p, maxmem: 64 * 1024 * 1024 },
          (e, d) => (e ? reject(e) : resolve(d)),
        ),
      ).finally(() => {
        this.scryptMs = 0.8 * this.scryptMs + 0.2 * (performance.now() - t0);
      });
    });
    if (!got)
      return {
        ok: false,
        id: k.id,
        reason: 'too many key checks in progress (scrypt limit); nothing hashed',
        busy: true,
      };
    if (want.length !== got.length || !timingSafeEqual(want, got))
      return { ok: false, id: k.id, reason: 'wrong API key', hashed: true };
    if (stamp === this.stamp) {
      this.verified.set(fp, k.id);
      while (this.verified.size > VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    }
    return { ok: true, id: k.id, role: k.role };
  }
}
