// Debian's Python with torch (the `python3` first on PATH may be another interpreter without it), and the repo's
// Python package on its path. Tests that need the package FAIL when torch is missing: CI installs python3-torch.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { resolve } from 'node:path';

export const PYTHON = process.env.VOCO_PYTHON ?? '/usr/bin/python3';
export const TORCHRUN = process.env.VOCO_TORCHRUN ?? '/usr/bin/torchrun';
export const PYTHON_DIR = resolve(import.meta.dirname, '../../python');

export function pythonEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PYTHONPATH: PYTHON_DIR, OMP_NUM_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1', ...extra };
}

/** Runs a command and throws with its output when it fails (so the test failure says why). */
export function runChecked(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: opts.env ?? pythonEnv(), encoding: 'utf8', timeout: opts.timeoutMs ?? 600_000, maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Throws unless Debian's python with torch, numpy and nibabel is there (never skips). */
export function requireTorch(): string {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy, nibabel; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`${PYTHON} cannot import torch/numpy/nibabel (${(r.stderr || r.error?.message || '').trim().split('\n').pop()}); install python3-torch python3-numpy python3-nibabel (apt-get)`);
  }
  return r.stdout.trim();
}
