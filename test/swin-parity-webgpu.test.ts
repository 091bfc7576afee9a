// The authors' VoCo backbone on tfjs-backend-webgpu under Node (Dawn) against their PyTorch fixture
// (VOCO_SWIN_FIXTURE): every tensor within 1e-4, no uncapturederror. Skips only when Dawn gives no adapter.
import { describe, expect, it } from 'vitest';
import { initNodeWebgpu } from './helpers/nodeWebgpu';

const gpu = await initNodeWebgpu();
if (!gpu.ok) console.warn(`swin-parity-webgpu: skipped, WebGPU is unavailable under Node: ${gpu.reason}`);
const tf = await import('@tensorflow/tfjs-core');
const { runSwinParity } = await import('../src/selftest/swinParity');
const { checkReport, fixtureBytes } = await import('./helpers/swinFixture');

describe.skipIf(!gpu.ok)(`VoCo Swin backbone parity on WebGPU (${gpu.adapter || 'no adapter'})`, () => {
  it('webgpu: every fixture tensor within 1e-4, no GPU errors', async () => {
    expect(await tf.setBackend('webgpu')).toBe(true);
    checkReport(await runSwinParity(fixtureBytes()), 'webgpu');
  }, 1_800_000);
});
