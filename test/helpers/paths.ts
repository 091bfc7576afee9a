// Where the tests find their data: everything lives in the repository (test/data, test/fixtures), each set with
// its LICENSE. Environment variables point a check at another file or folder made the same way.
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

/** Real CT scans and label maps (test/data/README.md says where each came from). */
export const DATA = process.env.VOCO_TEST_DATA ?? resolve(ROOT, 'data');

/** Golden values from the authors' PyTorch functions (test/fixtures/README.md). */
export const VOCO_REFERENCE = process.env.VOCO_REFERENCE ?? resolve(ROOT, 'fixtures/voco-reference.json');

/** The authors' SwinUNETR backbone fixtures (same file names as test/fixtures/voco-swin/). */
export const VOCO_SWIN_FIXTURE = process.env.VOCO_SWIN_FIXTURE ?? resolve(ROOT, 'fixtures/voco-swin');

/**
 * The slowest checks (the reference backbone end to end on tfjs's pure-JS cpu backend, on WebGPU through a
 * software adapter, and its training step: tens of minutes on a 2-core machine) run only when asked by name.
 */
export const SLOW_TESTS = process.env.VOCO_SLOW_TESTS === '1';
