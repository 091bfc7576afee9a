import { expect, test, type Page } from '@playwright/test';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DATA, openEmpty, pickFiles } from './helpers/ingest';

// Studio → Python package → studio, in the built app: train a tiny run, "Continue on a cluster" (the run file, the
// command, the datalist template), continue it with python/vocostudio (Debian's PyTorch, CPU) on the same scans,
// import the package's .voco and resume it: the whole history (studio steps then package steps) is on the curves,
// with the place where the run moved marked. Fails when /usr/bin/python3 has no torch.

const SCANS = [join(DATA, 'ct-abdomen-totalseg/example_ct.nii.gz'), join(DATA, 'ct-chest-elastix/chest_ct_derived_4x.nii.gz')];
const SHOTS = resolve('artifacts/screenshots');
const PYTHON = process.env.VOCO_PYTHON ?? '/usr/bin/python3';
const STUDIO_STEPS = 3;
const CLUSTER_STEPS = 2;

async function setField(page: Page, testId: string, value: string | number): Promise<void> {
  await page.getByTestId(testId).fill(String(value));
}

test('continue a run with the Python package and bring it back with its history marked', async ({ page }, testInfo) => {
  test.setTimeout(300_000);
  mkdirSync(SHOTS, { recursive: true });
  const tmp = testInfo.outputPath('');
  mkdirSync(tmp, { recursive: true });
  await openEmpty(page);
  await pickFiles(page, SCANS);
  await expect(page.getByTestId('dataset-row')).toHaveCount(2);
  await page.getByTestId('tab-train').click();

  // A tiny run of 3 steps on the cpu backend.
  await page.getByTestId('cfg-preset').selectOption('tiny');
  await setField(page, 'cfg-cropSize', 8);
  await setField(page, 'cfg-gridN', 2);
  await setField(page, 'cfg-batchVolumes', 2);
  await setField(page, 'cfg-randomCrops', 2);
  await setField(page, 'cfg-totalSteps', STUDIO_STEPS);
  await setField(page, 'cfg-warmupSteps', 1);
  await setField(page, 'cfg-checkpointEvery', 0);
  await setField(page, 'cfg-lr', '1e-3');
  await page.getByTestId('cfg-backend').selectOption('cpu');
  await expect(page.getByTestId('config-issues')).toHaveCount(0);
  await expect(page.getByTestId('btn-continue-cluster')).toBeDisabled();
  await page.getByTestId('btn-start').click();
  await expect(page.getByTestId('run-phase')).toHaveText('done', { timeout: 180_000 });
  await expect(page.getByTestId('plot-loss')).toHaveAttribute('data-points', String(STUDIO_STEPS));

  // ---- Continue on a cluster: the run file, the command and the datalist template ----
  const [runDl] = await Promise.all([page.waitForEvent('download', { timeout: 120_000 }), page.getByTestId('btn-continue-cluster').click()]);
  const runFile = join(tmp, runDl.suggestedFilename());
  await runDl.saveAs(runFile);
  expect(runDl.suggestedFilename()).toMatch(/^voco-tiny-n2r8-step3-\d+\.voco$/);
  await expect(page.getByTestId('cluster-run-file')).toHaveText(runDl.suggestedFilename());
  await setField(page, 'cluster-steps', CLUSTER_STEPS);
  const command = await page.getByTestId('cluster-command').textContent();
  expect(command).toContain(`torchrun --nproc_per_node=2`);
  expect(command).toContain(`-m vocostudio.train --from ${runDl.suggestedFilename()} --data datalist.json`);
  expect(command).toContain(`--steps ${CLUSTER_STEPS} --total-steps ${STUDIO_STEPS + CLUSTER_STEPS}`);
  const [listDl] = await Promise.all([page.waitForEvent('download'), page.getByTestId('btn-datalist-template').click()]);
  await listDl.saveAs(join(tmp, 'template.json'));
  const template = JSON.parse(readFileSync(join(tmp, 'template.json'), 'utf8'));
  // One entry per scan of the run, in the run's volume order (the order the package continues the studio's epochs in).
  const listed: string[] = template.training.map((e: { image: string }) => e.image);
  expect([...listed].sort()).toEqual(['scans/chest_ct_derived_4x.nii.gz', 'scans/example_ct.nii.gz']);
  await page.getByTestId('cluster-panel').screenshot({ path: join(SHOTS, 'cluster-panel.png') });

  // ---- the package continues the run (one process here; test/python-torchrun.test.ts runs torchrun ×2) ----
  // The template with its paths filled in, as a user would.
  const where = (entry: string) => SCANS.find((p) => p.endsWith(`/${entry.slice('scans/'.length)}`))!;
  writeFileSync(join(tmp, 'datalist.json'), JSON.stringify({ training: listed.map((image) => ({ image: where(image) })) }));
  const args = ['-m', 'vocostudio.train', '--from', runFile, '--data', join(tmp, 'datalist.json'), '--steps', String(CLUSTER_STEPS),
    '--total-steps', String(STUDIO_STEPS + CLUSTER_STEPS), '--out', join(tmp, 'cluster-run'), '--workers', '0', '--threads', '1'];
  const py = spawnSync(PYTHON, args, { cwd: resolve('python'), encoding: 'utf8', env: { ...process.env, PYTHONPATH: resolve('python') }, timeout: 240_000 });
  expect(py.status, `${PYTHON} ${args.join(' ')}\n${py.stdout}\n${py.stderr}`).toBe(0);
  expect(py.stdout).toContain(`at step ${STUDIO_STEPS}`);
  expect(py.stdout).toContain("the studio's sampler state");

  // ---- back in the studio: import, resume, the whole history with the move marked ----
  await page.getByTestId('input-import-run').setInputFiles(join(tmp, 'cluster-run', 'latest.voco'));
  await expect(page.getByTestId('runs-notice')).toContainText(`Imported latest.voco: step ${STUDIO_STEPS + CLUSTER_STEPS}, preset tiny`);
  await page.getByTestId('btn-new-run').click();
  const imported = page.getByTestId('saved-run').filter({ hasText: '(imported)' });
  await imported.getByTestId('btn-resume-run').click();
  await expect(page.getByTestId('run-phase')).toHaveText('ready', { timeout: 120_000 });
  await expect(page.getByTestId('run-step')).toHaveText(`step ${STUDIO_STEPS + CLUSTER_STEPS} / ${STUDIO_STEPS + CLUSTER_STEPS}`);
  for (const id of ['plot-loss', 'plot-lr', 'plot-steptime']) await expect(page.getByTestId(id)).toHaveAttribute('data-points', String(STUDIO_STEPS + CLUSTER_STEPS));
  await expect(page.getByTestId('run-markers')).toHaveText(`┊ step ${STUDIO_STEPS}: cluster: python ×1 (gloo, cpu)`);
  await page.getByTestId('live-plots').screenshot({ path: join(SHOTS, 'cluster-history.png') });
  // …and it trains on in the browser from where the package stopped.
  if (!(await page.getByTestId('cfg-totalSteps').isVisible())) await page.getByTestId('toggle-setup').click();
  await setField(page, 'cfg-totalSteps', STUDIO_STEPS + CLUSTER_STEPS + 1);
  await page.getByTestId('btn-start').click();
  await expect(page.getByTestId('run-phase')).toHaveText('done', { timeout: 180_000 });
  await expect(page.getByTestId('plot-loss')).toHaveAttribute('data-points', String(STUDIO_STEPS + CLUSTER_STEPS + 1));
  await expect(page.getByTestId('run-markers')).toContainText(`step ${STUDIO_STEPS}`);
});
