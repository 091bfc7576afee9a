// The authors' VoCo backbone (src/model/swin/) against golden values from their own PyTorch classes
// (VOCO_SWIN_FIXTURE, default test/fixtures/voco-swin/): every fixture tensor within 1e-4 relative (heads end to end
// 1e-3), every weight gradient within 1e-4 of its float64 recomputation and within 1e-4 plus the fixture's own float32
// error of the fixture (helpers/swinFixture.ts), on cpu and wasm under Node; test/swin-parity-webgpu.test.ts runs the
// same on WebGPU (Dawn), e2e/swin-parity.spec.ts in Chromium.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { SLOW_TESTS } from './helpers/paths';
import { runSwinParity } from '../src/selftest/swinParity';
import { checkReport, fixtureBytes, parityOptions } from './helpers/swinFixture';

describe('VoCo Swin backbone parity with the authors\' PyTorch (fixture)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    // tfjs's cpu backend: 63 min here (load 10-20 on 2 cores; 8 min of CPU): VOCO_SLOW_TESTS=1 runs it (wasm always runs).
    it.skipIf(backend === 'cpu' && !SLOW_TESTS)(`${backend}: every fixture tensor within 1e-4`, async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      checkReport(await runSwinParity(fixtureBytes(), parityOptions()), backend);
    }, 7_200_000); // a 64³ forward and backward of two crops, then the float64 recomputation (python3 + torch)
  }
});
