/**
 * Headless Debian Chromium for the page tests (reports, dashboard, in-browser demo, evidence), through
 * playwright-core, and the accessibility check of issue 23 (axe: no serious or critical violation).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

export const CHROMIUM = '/usr/bin/chromium';

/** `skip` value for a test that needs the browser. */
export const NO_CHROMIUM: string | false = existsSync(CHROMIUM)
  ? false
  : `${CHROMIUM} is not installed (Debian package chromium)`;

/** Headless Chromium without network side traffic (updates, sync, background fetches). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** axe: no serious or critical accessibility violation on the page. */
export async function axe(page: Page, what: string): Promise<void> {
  const r = await new AxeBuilder({ page }).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const lines = bad.map(
    (v) =>
      `${v.id} (${v.impact}): ${v.nodes
        .map((n) => n.target.join(' '))
        .slice(0, 3)
        .join(', ')}`,
  );
  assert.deepEqual(lines, [], `axe on ${what}`);
}
