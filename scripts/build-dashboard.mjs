#!/usr/bin/env node
// Bundles the dashboard's browser app (web/dashboard) with esbuild into dist/dashboard-ui/:
// index.html and assets/ (app.js, app.css, ...). Everything the pages load comes from there: no CDN.
// A view with its own bundle (e.g. the in-browser demo) adds an entry to ENTRIES.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const src = path.join(root, 'web', 'dashboard');
const out = path.join(root, 'dist', 'dashboard-ui');
const ENTRIES = [{ in: path.join(src, 'src', 'main.tsx'), out: 'app' }];

rmSync(out, { recursive: true, force: true });
mkdirSync(path.join(out, 'assets'), { recursive: true });
const t0 = Date.now();
const r = await build({
  entryPoints: ENTRIES,
  outdir: path.join(out, 'assets'),
  bundle: true,
  format: 'esm',
  splitting: false,
  minify: true,
  sourcemap: false,
  target: ['es2022'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  logLevel: 'warning',
  metafile: true,
  define: { 'process.env.NODE_ENV': '"production"' },
});
copyFileSync(path.join(src, 'index.html'), path.join(out, 'index.html'));
copyFileSync(path.join(src, 'favicon.svg'), path.join(out, 'assets', 'favicon.svg'));
const bytes = Object.entries(r.metafile.outputs)
  .map(([f, o]) => `${path.basename(f)} ${(o.bytes / 1024).toFixed(0)} KiB`)
  .join(', ');
if (process.env.MEDSHIELD_QUIET !== '1') console.log(`dashboard front end built in ${Date.now() - t0} ms: ${bytes}`);
