// The swin fixture's gradients recomputed in float64 by the repo's PyTorch port of the authors' model
// (python/vocostudio/model/swin/float64_reference.py, Debian's python3-torch): the exact values that the fixture's
// float32 gradients approximate. A gradient whose fixture value is itself off by more than 1e-4 (PyTorch's float32
// rounding) is held to 1e-4 against these instead. Fails, never skips, when torch is missing.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VOCO_SWIN_FIXTURE } from './paths';
import { PYTHON, requireTorch, runChecked } from './python';

export interface Float64Reference {
  gradients: Record<string, number[]>;
  /** max |fixture − exact| / max |exact| per gradient: PyTorch's own float32 error. */
  fixture_error: Record<string, number>;
}

export function float64Gradients(names: string[]): Float64Reference {
  requireTorch();
  const dir = mkdtempSync(join(tmpdir(), 'voco-swin64-'));
  try {
    const out = join(dir, 'exact.json');
    runChecked(PYTHON, ['-m', 'vocostudio.model.swin.float64_reference', VOCO_SWIN_FIXTURE, out, ...names], { timeoutMs: 900_000 });
    return JSON.parse(readFileSync(out, 'utf8')) as Float64Reference;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
