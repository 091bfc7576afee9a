// The model on tfjs-backend-webgpu (Dawn under Node) against the cpu backend: for every preset (shrunk to a tiny
// width, its own depth and stage taps), the embedding, both heads and the gradient w.r.t. every trainable variable.
// Fails when Dawn cannot give an adapter (skipped only with VOCO_SKIP_NODE_WEBGPU=1).
import { beforeAll, describe, expect, it } from 'vitest';
import { initNodeWebgpu, requireWebgpu, SKIP_NODE_WEBGPU } from './helpers/nodeWebgpu';

const gpu = await initNodeWebgpu();
const { compareWithCpu } = await import('../src/selftest/model');
const { PRESETS, isSwinPreset } = await import('../src/model/presets');

/** Relative to the reference's largest magnitude; float32 matmuls summed in another order stay far below. */
const TOLERANCE = 1e-3;

describe.skipIf(SKIP_NODE_WEBGPU)(`model on WebGPU (${gpu.adapter || 'no adapter'})`, () => {
  beforeAll(() => requireWebgpu(gpu));
  it('every preset: embedding, heads and all gradients equal the cpu backend within 1e-3 (rel. to max-abs)', async () => {
    const report = await compareWithCpu('webgpu');
    for (const p of report.presets) console.log(`[model-webgpu] ${p.preset} depth ${p.shape.depth}: worst ${p.worst.name} ${p.worst.relError.toExponential(2)} (embedding ${p.embedding.relError.toExponential(2)}, ${p.grads.length} gradients)`);
    expect(report.error).toBeNull();
    expect(report.ran).toBe('webgpu');
    expect(report.gpuErrors).toEqual([]);
    expect(report.presets.map((p) => p.preset)).toEqual(Object.keys(PRESETS).filter((n) => !isSwinPreset(PRESETS[n])));
    for (const p of report.presets) {
      for (const d of [p.embedding, p.student, p.teacher, p.loss, ...p.grads]) {
        if (!d.exactZero) expect(d.maxAbsRef, `${p.preset} ${d.name} is all zeros: nothing would be compared`).toBeGreaterThan(0);
        expect(d.relError, `${p.preset} ${d.name}`).toBeLessThan(TOLERANCE);
      }
    }
  }, 600_000);
});
