// Shared steps for browser tests that load scans through the dataset panel.
import { expect, type Locator, type Page } from '@playwright/test';
import { resolve } from 'node:path';

/** The test data kept in the repository (test/data, each set with its LICENSE); VOCO_TEST_DATA points elsewhere. */
export const DATA = process.env.VOCO_TEST_DATA ?? resolve(process.cwd(), 'test/data');

/** Rows of the dataset panel whose name matches. */
export function rowNamed(page: Page, name: string | RegExp): Locator {
  return page.getByTestId('dataset-row').filter({ has: page.getByTestId('row-name').getByText(name, { exact: typeof name === 'string' }) });
}

/** Open the studio without the sample CT (tests count rows). */
export async function openEmpty(page: Page): Promise<void> {
  page.on('console', (m) => m.type() === 'error' && console.log('[page]', m.text()));
  page.on('pageerror', (e) => console.log('[pageerror]', e.message));
  await page.goto('/?sample=0');
  await expect(page.getByTestId('drop-zone')).toBeVisible();
}

/** Run an action that starts one ingest batch; resolves when that batch has finished. Returns ms. */
export async function afterBatch(page: Page, action: () => Promise<void>, timeout = 120_000): Promise<number> {
  const panel = page.getByTestId('dataset');
  // Batches still running (the bundled samples, label pairing) would be counted as this one.
  await expect(panel).toHaveAttribute('data-busy', 'false', { timeout });
  const before = Number(await panel.getAttribute('data-batches-done'));
  const t0 = Date.now();
  await action();
  await expect(panel).toHaveAttribute('data-batches-done', String(before + 1), { timeout });
  return Date.now() - t0;
}

/** Pick files with the file picker; resolves when they are all loaded (or failed). Returns ms. */
export function pickFiles(page: Page, files: string[] | { name: string; mimeType: string; buffer: Buffer }[]): Promise<number> {
  return afterBatch(page, () => page.getByTestId('file-input').setInputFiles(files as never));
}

/** Pick a folder with the folder picker (Playwright uploads the folder's files with relative paths). */
export function pickFolder(page: Page, dir: string): Promise<number> {
  return afterBatch(page, () => page.getByTestId('folder-input').setInputFiles(dir));
}
