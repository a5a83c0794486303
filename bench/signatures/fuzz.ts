/**
 * Fuzz run (issue 6 acceptance 3): ≥ 100 000 malformed inputs (truncation, corrupted and huge lengths,
 * odd VRs, deep sequence nesting, byte noise, spliced junk) through verify. Prints counts; exits 1 on
 * any crash (an exception other than a named MedshieldError) or hang (> 1 s).
 *   node dist/bench/signatures/fuzz.js [--n 100000] [--seed 2]
 */
import { makePki, runFuzz } from './runs.js';

const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const n = arg('--n', 100000);
const seed = arg('--seed', 2);
const t0 = performance.now();
const c = await runFuzz(n, seed, await makePki(), (k) => process.stderr.write(`\r${k}/${n}`));
process.stderr.write('\n');
console.log(`fuzz run: ${c.total} inputs, seed ${seed}, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
console.log(
  `outcomes: ${c.valid} valid, ${c.invalid} invalid, ${c.namedErrors}` +
    ` named errors, ${c.crashes} crashes, ${c.hangs} hangs (> 1 s)`,
);
console.log(`slowest input ${c.maxMs.toFixed(1)} ms, peak RSS ${c.maxRssMB.toFixed(0)} MB`);
console.log(
  `by kind: ${Object.entries(c.byKind)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')}`,
);
for (const e of c.examples) console.log(`  ! ${e}`);
process.exit(c.crashes || c.hangs ? 1 : 0);
