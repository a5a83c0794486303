/**
 * The deployment files (deploy/docker-compose.yml, deploy/Dockerfile, deploy/systemd/medshield-worker@.service;
 * docs/campaigns.md, "Deployment files") checked statically: neither Docker nor systemd runs on the test machine,
 * so nothing here starts a container or a unit. What is checked: the files parse; every medshield command they
 * run is a real command of this CLI and every option they pass is one of its options (its --help, from the
 * compiled CLI); every file they name exists in the repository (the image's WORKDIR and the unit's
 * WorkingDirectory stand for the repository root); the URLs they hand the worker are ones the worker accepts
 * and name the services beside it; the environment variables they set are ones medshield reads; and the claims
 * docs/campaigns.md makes about them (loopback-only ports, Redis password/AOF/noeviction, a stop timeout long
 * enough for the running job) hold.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { redisOptions } from '../src/api/campaign/queue.js';
import { ROOT, cli } from './helpers.js';

const DEPLOY = path.join(ROOT, 'deploy');
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  scripts: Record<string, string>;
};

const helpCache = new Map<string, string>();
/** The compiled CLI's help for a command (exit 0), e.g. `medshield worker --help`. */
function help(command: string): string {
  let h = helpCache.get(command);
  if (h === undefined) {
    const r = cli([command, '--help'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `medshield ${command} --help: ${r.stderr}`);
    h = r.stdout;
    helpCache.set(command, h);
  }
  return h;
}

/** A medshield argument list (after the program name) is a real command whose every --option exists. */
function assertMedshieldArgs(args: string[], where: string): void {
  const [command, ...rest] = args;
  assert.ok(command && !command.startsWith('-'), `${where}: no medshield command in ${JSON.stringify(args)}`);
  const h = help(command);
  assert.match(h, new RegExp(`^Usage: medshield ${command}\\b`, 'm'), `${where}: '${command}' is a medshield command`);
  for (const a of rest.filter((x) => x.startsWith('--'))) {
    const name = a.split('=')[0];
    // an option line of the help (`  --threads <n>  …`), not a mention in another option's text
    assert.match(
      h,
      new RegExp(`^\\s*(?:-\\w, )?${name}(?=[\\s<\\[=,]|$)`, 'm'),
      `${where}: 'medshield ${command}' has ${name}`,
    );
  }
}

/** Environment variables medshield reads (an env-backed option of the command, or a read in src/). */
function assertReadsEnv(name: string, command: string, where: string): void {
  if (new RegExp(`env:?\\s+${name}\\b`).test(help(command))) return;
  const sources = ['src/engine/index.ts', 'src/cli/progress.ts', 'src/api/campaign/queue.ts', 'src/cli/run.ts'];
  assert.ok(
    sources.some((f) => readFileSync(path.join(ROOT, f), 'utf8').includes(`process.env.${name}`)),
    `${where}: ${name} is read by medshield`,
  );
}

/** `${VAR}`, `${VAR:?message}` and `${VAR:-default}` of compose, substituted with a placeholder value. */
const substitute = (s: string): string => s.replace(/\$\{([A-Z_][A-Z0-9_]*)(:[?-][^}]*)?\}/g, 'x$1');

const compose = YAML.parse(readFileSync(path.join(DEPLOY, 'docker-compose.yml'), 'utf8')) as {
  services: Record<
    string,
    {
      image?: string;
      build?: { context: string; dockerfile: string };
      command?: string[];
      environment?: Record<string, string>;
      depends_on?: string[];
      ports?: string[];
      stop_grace_period?: string;
    }
  >;
};

/** Dockerfile instructions (continuation lines joined, comments dropped). */
function dockerfile(file: string): Array<{ op: string; arg: string }> {
  return readFileSync(file, 'utf8')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() && !l.trim().startsWith('#'))
    .map((l) => {
      const m = /^\s*([A-Z]+)\s+(.*)$/.exec(l);
      assert.ok(m, `Dockerfile line: ${l}`);
      return { op: m[1], arg: m[2].trim() };
    });
}

test('docker-compose.yml: services, build files, ports on loopback only, Redis settings the docs promise', () => {
  const s = compose.services;
  assert.deepEqual(Object.keys(s).sort(), ['postgres', 'redis', 'worker']);
  for (const [name, svc] of Object.entries(s)) {
    for (const d of svc.depends_on ?? []) assert.ok(s[d], `${name} depends on a service '${d}' that exists`);
    for (const p of svc.ports ?? []) assert.match(p, /^127\.0\.0\.1:\d+:\d+$/, `${name}: port ${p} on loopback only`);
    assert.ok(svc.image || svc.build, `${name}: an image or a build`);
  }
  const redis = (s.redis.command ?? []).join(' ');
  assert.match(redis, /^redis-server /);
  assert.match(redis, /--requirepass \$\{REDIS_PASSWORD:\?/, 'a password, required from the environment');
  assert.match(redis, /--appendonly yes/);
  assert.match(redis, /--maxmemory-policy noeviction/);
  assert.match(s.postgres.environment?.POSTGRES_PASSWORD ?? '', /^\$\{PG_PASSWORD:\?/);
  // the worker image: the build context is the repository, the Dockerfile is there
  const b = s.worker.build!;
  const context = path.resolve(DEPLOY, b.context);
  assert.equal(context, path.resolve(ROOT));
  assert.ok(existsSync(path.join(context, b.dockerfile)), `${b.dockerfile} exists`);
});

test('Dockerfile: WORKDIR is the repository, the entry point is the package bin, the build script exists', () => {
  const ins = dockerfile(path.join(ROOT, compose.services.worker.build!.dockerfile));
  const one = (op: string): string => {
    const x = ins.filter((i) => i.op === op);
    assert.equal(x.length, 1, `one ${op}`);
    return x[0].arg;
  };
  const workdir = one('WORKDIR');
  const entry = JSON.parse(one('ENTRYPOINT')) as string[];
  assert.equal(entry[0], 'node');
  const script = path.posix.resolve(workdir, entry[1]);
  assert.ok(script.startsWith(`${workdir}/`), `${script} is inside ${workdir}`);
  const rel = path.posix.relative(workdir, script);
  assert.ok(existsSync(path.join(ROOT, rel)), `${rel} exists`);
  assert.equal(path.posix.normalize(pkg.bin.medshield), rel, "the entry point is package.json's bin");
  for (const run of ins.filter((i) => i.op === 'RUN'))
    for (const m of run.arg.matchAll(/npm run (\S+)/g)) assert.ok(pkg.scripts[m[1]], `npm script '${m[1]}' exists`);
  assertMedshieldArgs(JSON.parse(one('CMD')) as string[], 'Dockerfile CMD');
});

test("compose worker: a real medshield command, URLs the worker accepts naming compose's own services", () => {
  const s = compose.services;
  const w = s.worker;
  assertMedshieldArgs(w.command!, 'compose worker command');
  const env = w.environment ?? {};
  for (const name of Object.keys(env)) assertReadsEnv(name, w.command![0], `compose worker environment`);
  const queue = substitute(env.MEDSHIELD_QUEUE_URL);
  const q = new URL(redisOptions(queue).url);
  assert.ok(s[q.hostname], `queue host '${q.hostname}' is a compose service`);
  assert.equal(q.port, '6379');
  assert.ok(q.password, 'the queue URL carries the Redis password');
  const store = new URL(substitute(env.MEDSHIELD_STORE_URL));
  assert.match(store.protocol, /^postgres(ql)?:$/, 'a PostgreSQL store (what openStore accepts for many machines)');
  assert.ok(s[store.hostname], `store host '${store.hostname}' is a compose service`);
  assert.equal(store.username, s.postgres.environment?.POSTGRES_USER);
  assert.equal(store.pathname.slice(1), s.postgres.environment?.POSTGRES_DB);
  assert.deepEqual([...(w.depends_on ?? [])].sort(), [q.hostname, store.hostname].sort());
  // SIGTERM lets the running job finish: the worker handles it, and compose waits long enough
  assert.match(readFileSync(path.join(ROOT, 'src', 'worker', 'index.ts'), 'utf8'), /process\.on\('SIGTERM'/);
  assert.match(w.stop_grace_period ?? '', /^\d+m$/);
});

/** A systemd unit file: sections of `Key=Value` lines (repeated keys kept), comments apart. */
function unit(file: string): { sections: Map<string, Array<[string, string]>>; comments: string } {
  const sections = new Map<string, Array<[string, string]>>();
  let cur: Array<[string, string]> | null = null;
  const comments: string[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const t = line.trim();
    if (!t) continue;
    if (t.startsWith('#') || t.startsWith(';')) {
      comments.push(t);
      continue;
    }
    const sec = /^\[([A-Za-z]+)\]$/.exec(t);
    if (sec) {
      cur = [];
      sections.set(sec[1], cur);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(t);
    assert.ok(kv && cur, `unit line '${t}'`);
    cur.push([kv[1], kv[2]]);
  }
  return { sections, comments: comments.join('\n') };
}

test('systemd unit: ExecStart runs the repository bin with a real medshield command; env and stop settings', () => {
  const file = path.join(DEPLOY, 'systemd', 'medshield-worker@.service');
  const u = unit(file);
  assert.deepEqual([...u.sections.keys()], ['Unit', 'Service', 'Install']);
  const svc = u.sections.get('Service')!;
  const get = (k: string): string[] => svc.filter(([x]) => x === k).map(([, v]) => v);
  const [exec] = get('ExecStart');
  const [cwd] = get('WorkingDirectory');
  const argv = exec.split(/\s+/);
  assert.match(argv[0], /^\/usr\/bin\/node$/, 'Node from the distribution');
  assert.ok(argv[1].startsWith(`${cwd}/`), `${argv[1]} is inside WorkingDirectory ${cwd}`);
  const rel = path.posix.relative(cwd, argv[1]);
  assert.equal(rel, path.posix.normalize(pkg.bin.medshield), "ExecStart runs package.json's bin");
  assert.ok(existsSync(path.join(ROOT, rel)), `${rel} exists`);
  assertMedshieldArgs(argv.slice(2), 'ExecStart');
  // the variables the header says go in the EnvironmentFile, and the Environment= lines, are read by medshield
  assert.equal(get('EnvironmentFile').length, 1);
  const fromComment = [...u.comments.matchAll(/^#\s+(MEDSHIELD_[A-Z_]+)=/gm)].map((m) => m[1]);
  assert.ok(fromComment.includes('MEDSHIELD_QUEUE_URL') && fromComment.includes('MEDSHIELD_STORE_URL'));
  const fromEnv = get('Environment')
    .map((e) => e.split('=')[0])
    .filter((n) => n.startsWith('MEDSHIELD_'));
  for (const name of [...fromComment, ...fromEnv]) assertReadsEnv(name, argv[2], 'systemd unit');
  const progress = get('Environment').find((e) => e.startsWith('MEDSHIELD_PROGRESS='));
  if (progress) assert.match(progress, /=(off|plain|bar)$/);
  assert.deepEqual(get('KillSignal'), ['SIGTERM']);
  assert.ok(Number(get('TimeoutStopSec')[0]) >= 60, 'time for the running job to finish');
  assert.deepEqual(get('Restart'), ['on-failure']);
  assert.match(
    get('ReadWritePaths')[0],
    new RegExp(
      `^${get('Environment')
        .find((e) => e.startsWith('HOME='))!
        .slice(5)}$`,
    ),
  );
  assert.deepEqual(u.sections.get('Install'), [['WantedBy', 'multi-user.target']]);
});
