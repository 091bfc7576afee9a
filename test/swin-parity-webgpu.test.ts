// The authors' VoCo backbone on tfjs-backend-webgpu under Node (Dawn) against their PyTorch fixture
// (VOCO_SWIN_FIXTURE): every tensor within 1e-4, no uncapturederror. Slow on a software adapter: runs with
// VOCO_SLOW_TESTS=1, and then fails when Dawn gives no adapter.
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeWebgpu, requireWebgpu } from './helpers/nodeWebgpu';
import { SLOW_TESTS } from './helpers/paths';

const gpu = await initNodeWebgpu();
const tf = await import('@tensorflow/tfjs-core');
const { runSwinParity } = await import('../src/selftest/swinParity');
const { checkReport, fixtureBytes, parityOptions } = await import('./helpers/swinFixture');

describe.skipIf(!SLOW_TESTS)(`VoCo Swin backbone parity on WebGPU (${gpu.adapter || 'no adapter'})`, () => {
  beforeAll(() => requireWebgpu(gpu));
  it('webgpu: every fixture tensor within 1e-4, no GPU errors', async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    checkReport(await runSwinParity(fixtureBytes(), parityOptions()), 'webgpu');
  }, 1_800_000);
});
