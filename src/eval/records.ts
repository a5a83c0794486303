/** Per-sample records as JSON or CSV (one row per image; nested labels joined with '|'). */
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { SampleRecord } from './robustness.js';

const COLUMNS: Array<keyof SampleRecord> = [
  'eps',
  'index',
  'label',
  'cleanPrediction',
  'adversarialPrediction',
  'cleanConfidence',
  'adversarialConfidence',
  'attacked',
  'success',
  'l0',
  'l2',
  'linf',
  'ssim',
  'psnr',
  'queries',
];

export function recordsToCsv(records: SampleRecord[], extra: Record<string, string | number> = {}): string {
  const keys = Object.keys(extra);
  const cell = (v: unknown): string =>
    v === null || v === undefined ? '' : Array.isArray(v) ? v.join('|') : String(v);
  const cols: Array<keyof SampleRecord> = records.some((r) => r.file !== undefined) ? [...COLUMNS, 'file'] : COLUMNS;
  const quote = (v: string): string => (/[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const lines = [[...keys, ...cols].join(',')];
  for (const r of records)
    lines.push(
      [...keys.map((k) => cell(extra[k])), ...cols.map((c) => (c === 'file' ? quote(cell(r[c])) : cell(r[c])))].join(
        ',',
      ),
    );
  return lines.join('\n') + '\n';
}

/** Write records to FILE.json or FILE.csv (by extension). */
export function writeRecords(file: string, records: SampleRecord[], extra: Record<string, string | number> = {}): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  if (file.toLowerCase().endsWith('.csv')) writeFileSync(file, recordsToCsv(records, extra));
  else writeFileSync(file, JSON.stringify(records.map((r) => ({ ...extra, ...r }))) + '\n');
}
