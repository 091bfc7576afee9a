// The authors' VoCo backbone (src/model/swin/) against golden values from their own PyTorch classes
// (VOCO_SWIN_FIXTURE, default test/fixtures/voco-swin/): every fixture tensor within 1e-4 relative, on cpu and wasm
// under Node; test/swin-parity-webgpu.test.ts runs the same on WebGPU (Dawn).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { SLOW_TESTS } from './helpers/paths';
import { runSwinParity } from '../src/selftest/swinParity';
import { checkReport, fixtureBytes } from './helpers/swinFixture';

describe('VoCo Swin backbone parity with the authors\' PyTorch (fixture)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    // tfjs's cpu backend needs ~30 min for this on 2 cores: VOCO_SLOW_TESTS=1 runs it (wasm always runs).
    it.skipIf(backend === 'cpu' && !SLOW_TESTS)(`${backend}: every fixture tensor within 1e-4`, async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      checkReport(await runSwinParity(fixtureBytes()), backend);
    }, 3_600_000); // a 64³ forward and backward of two crops: minutes on 2 loaded cores
  }
});
