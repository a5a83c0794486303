/**
 * Regenerates src/data/vr-dictionary-data.ts (tag → VR) from DCMTK's data dictionaries,
 * which are generated from DICOM PS3.6 (the Data Dictionary), plus DCMTK's private dictionary
 * (private.dic: vendor tags by private creator), which dcmsign uses to read Implicit VR files. Only needed to read
 * Implicit VR files: their elements carry no VR, so the MAC (computed in Explicit VR, PS3.15 C.12.1.1.3.1.1)
 * needs the dictionary VR.
 *
 *   node dist/bench/signatures/gen-dictionary.js /usr/share/libdcmtk17 > src/data/vr-dictionary-data.ts
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

const dir = process.argv[2] ?? '/usr/share/libdcmtk17';
const byVr = new Map<string, string[]>();
const ranges: string[] = [];
const seen = new Set<string>();
for (const f of ['dicom.dic', 'acrnema.dic', 'diconde.dic']) {
  for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const [tag, vr] = line.split('\t');
    if (!tag || !vr || tag.includes('"')) continue;
    const m = /^\(([0-9A-Fa-f-ou]+),([0-9A-Fa-f-ou]+)\)$/.exec(tag);
    if (!m) continue;
    const [g, e] = [m[1], m[2]];
    if (/^[0-9A-Fa-f]{4}$/.test(g) && /^[0-9A-Fa-f]{4}$/.test(e)) {
      const key = (g + e).toUpperCase();
      if (seen.has(key)) continue;
      seen.add(key);
      if (!byVr.has(vr)) byVr.set(vr, []);
      byVr.get(vr)!.push(key);
    } else {
      ranges.push(`${g.toUpperCase()},${e.toUpperCase()},${vr}`);
    }
  }
}
// Private dictionary: (gggg,"creator",ee) → VR, keyed by creator; groups may be ranges "gggg-o-gggg".
const priv = new Map<string, string[]>();
for (const line of readFileSync(path.join(dir, 'private.dic'), 'utf8').split('\n')) {
  if (!line || line.startsWith('#')) continue;
  const [tag, vr] = line.split('\t');
  const m = /^\(([0-9A-Fa-f]{4}(?:-o-[0-9A-Fa-f]{4})?),"([^"]*)",([0-9A-Fa-f]{2})\)$/.exec(tag ?? '');
  if (!m || !vr) continue;
  if (!priv.has(m[2])) priv.set(m[2], []);
  priv.get(m[2])!.push(`${m[1].toUpperCase()}:${m[3].toUpperCase()}:${vr}`);
}
/** `  "key": "value",`, the value cut at spaces into "…" + "…" pieces so that no line is longer than 120 characters. */
function entry(key: string, value: string): string[] {
  const one = `  ${JSON.stringify(key)}: ${JSON.stringify(value)},`;
  if (one.length <= 120) return [one];
  const pieces: string[] = [];
  let cur = '';
  for (const w of value.split(' ')) {
    if (cur && cur.length + w.length + 1 > 110) {
      pieces.push(cur);
      cur = '';
    }
    cur += (cur ? ' ' : '') + w;
  }
  pieces.push(cur);
  const last = pieces.length - 1;
  return [
    `  ${JSON.stringify(key)}:`,
    ...pieces.map((x, i) => `    ${JSON.stringify(i < last ? `${x} ` : x)}${i < last ? ' +' : ','}`),
  ];
}
/** The items of a string array, as many to a line as fit in 120 characters. */
function packed(items: string[]): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const q of items.map((x) => JSON.stringify(x))) {
    if (cur && cur.length + q.length + 2 > 118) {
      lines.push(`${cur},`);
      cur = '';
    }
    cur += (cur ? ', ' : '  ') + q;
  }
  if (cur) lines.push(cur);
  return lines;
}
const out: string[] = [];
out.push('/**');
out.push(" * Tag → VR table generated from the DICOM PS3.6 data dictionary (as shipped in DCMTK's");
out.push(' * dicom.dic, acrnema.dic, diconde.dic) by bench/signatures/gen-dictionary.ts. Do not edit.');
out.push(
  " * Lowercase VRs are DCMTK's multi-VR markers: ox (OB/OW), " +
    'xs (US/SS), lt (US/SS/OW), up (UL), na (none), px (pixel).',
);
out.push(' */');
out.push('export const VR_BY_TAG: Record<string, string> = {');
for (const [vr, tags] of [...byVr.entries()].sort()) out.push(...entry(vr, tags.sort().join(' ')));
out.push('};');
out.push('/** Group/element ranges: "gggg-gggg" (even groups), "-o-" odd only, "-u-" all. */');
out.push('export const VR_RANGES: string[] = [', ...packed(ranges), '];');
out.push('/** Private tags by private creator: "gggg:ee:VR" (gggg may be "gggg-o-gggg", odd groups in range). */');
out.push('export const PRIVATE_VR: Record<string, string> = {');
for (const [creator, entries] of [...priv.entries()].sort()) out.push(...entry(creator, entries.join(' ')));
out.push('};');
process.stdout.write(out.join('\n') + '\n');
