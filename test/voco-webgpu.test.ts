// The VoCo losses and their gradients on tfjs-backend-webgpu (Dawn under Node) against the cpu backend and the
// authors' golden values. Skips only when Dawn cannot give an adapter, and says why.
import { readFileSync } from 'node:fs';
import { initNodeWebgpu, requireWebgpu, SKIP_NODE_WEBGPU } from './helpers/nodeWebgpu';
import { lossCaseTensors, relativeError, type LossCase } from './helpers/vocoFixture';
import { VOCO_REFERENCE } from './helpers/paths';
import { beforeAll, describe, expect, it } from 'vitest';

const fixturePath = VOCO_REFERENCE;
const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as { losses: LossCase[] };
const gpu = await initNodeWebgpu();
const tf = await import('@tensorflow/tfjs-core');
const { AdamW, emaUpdate, vocoLosses } = await import('../src/voco');

interface Result {
  values: number[];
  gradX: Float32Array;
  gradBases: Float32Array;
  logits: Float32Array;
}

async function evaluate(backend: string, c: LossCase): Promise<Result> {
  if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend) throw new Error(`could not switch to the ${backend} backend`);
  const t = lossCaseTensors(c);
  const args = { batch: c.batch, sw: c.sw, bases: c.bases };
  const out = vocoLosses({ ...t, ...args });
  const [gx, gb] = tf.grads((x: import('@tensorflow/tfjs-core').Tensor, b: import('@tensorflow/tfjs-core').Tensor) =>
    vocoLosses({ ...t, xStudent: x as never, basesStudent: b as never, ...args }).total,
  )([t.xStudent, t.basesStudent]);
  const values = [];
  for (const s of [out.intra, out.inter, out.reg, out.total]) values.push((await s.data())[0]);
  const result = {
    values,
    gradX: (await gx.data()) as Float32Array,
    gradBases: (await gb.data()) as Float32Array,
    logits: (await out.logits.data()) as Float32Array,
  };
  tf.dispose([out.intra, out.inter, out.reg, out.total, out.logits, gx, gb, ...Object.values(t)]);
  return result;
}

describe.skipIf(SKIP_NODE_WEBGPU)(`VoCo losses on WebGPU (${gpu.adapter || 'no adapter'})`, () => {
  beforeAll(() => requireWebgpu(gpu));
  it('match the cpu backend and the golden values within 1e-4', async () => {
    expect(fixture.losses.length).toBeGreaterThanOrEqual(process.env.VOCO_REFERENCE ? 1 : 6);
    await tf.setBackend('webgpu');
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const gpuErrors: string[] = [];
    const onError = (e: Event) => gpuErrors.push((e as GPUUncapturedErrorEvent).error.message);
    device.addEventListener('uncapturederror', onError);

    let checked = 0;
    try {
      for (const [index, c] of fixture.losses.entries()) {
        const where = `loss case ${index} (batch ${c.batch}, sw ${c.sw}, bases ${c.bases})`;
        const onGpu = await evaluate('webgpu', c);
        const onCpu = await evaluate('cpu', c);
        expect(relativeError(onGpu.values, onCpu.values), `${where}: losses vs cpu`).toBeLessThan(1e-4);
        expect(relativeError(onGpu.values, [c.intra, c.inter, c.reg, c.loss]), `${where}: losses vs golden`).toBeLessThan(1e-4);
        expect(relativeError(onGpu.logits, onCpu.logits), `${where}: logits vs cpu`).toBeLessThan(1e-4);
        expect(relativeError(onGpu.gradX, onCpu.gradX), `${where}: grad_x_student vs cpu`).toBeLessThan(1e-4);
        expect(relativeError(onGpu.gradBases, onCpu.gradBases), `${where}: grad_bases_student vs cpu`).toBeLessThan(1e-4);
        expect(relativeError(onGpu.gradX, c.grad_x_student.flat()), `${where}: grad_x_student vs golden`).toBeLessThan(1e-4);
        expect(relativeError(onGpu.gradBases, c.grad_bases_student.flat()), `${where}: grad_bases_student vs golden`).toBeLessThan(1e-4);
        checked++;
      }
    } finally {
      await tf.setBackend('webgpu');
      await new Promise((r) => setTimeout(r, 50)); // let Dawn deliver any pending uncaptured errors
      device.removeEventListener('uncapturederror', onError);
    }
    expect(gpuErrors, 'WebGPU uncaptured errors').toEqual([]);
    expect(checked).toBe(fixture.losses.length);
  });

  it('runs AdamW (amsgrad, clipping) and EMA like the cpu backend, without leaking', async () => {
    const run = async (backend: string) => {
      if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend) throw new Error(`could not switch to ${backend}`);
      const vars = [tf.variable(tf.tensor2d([[0.5, -1], [2, 0.25]])), tf.variable(tf.tensor1d([3, -4, 0.1]))];
      const teacher = [tf.variable(tf.zeros([2, 2])), tf.variable(tf.ones([3]))];
      const grads = [tf.tensor2d([[0.3, -0.2], [1.5, 0.01]]), tf.tensor1d([-2, 0.5, 0.7])];
      const opt = new AdamW({ weightDecay: 0.01, amsgrad: true, clipNorm: 1 });
      opt.apply(vars, grads, 1e-2);
      const before = tf.memory().numTensors;
      const sync: (number | null)[] = [];
      for (let i = 0; i < 5; i++) {
        sync.push(opt.apply(vars, grads, 1e-2).gradNorm);
        emaUpdate(teacher, vars, 0.9);
      }
      const leaked = tf.memory().numTensors - before;
      const norm = await opt.readGradNorm();
      const values = [...(await vars[0].data()), ...(await vars[1].data()), ...(await teacher[0].data()), ...(await teacher[1].data())];
      opt.dispose();
      tf.dispose([...vars, ...teacher, ...grads]);
      return { values, leaked, norm, sync };
    };
    const onGpu = await run('webgpu');
    const onCpu = await run('cpu');
    expect(onGpu.leaked).toBe(0);
    expect(onCpu.leaked).toBe(0);
    expect(relativeError(onGpu.values, onCpu.values)).toBeLessThan(1e-4);
    expect(onGpu.norm).toBeCloseTo(onCpu.norm!, 4);
    // A synchronous read would stall the GPU (and needs OffscreenCanvas), so on webgpu the norm is only async.
    expect(onGpu.sync.every((v) => v === null)).toBe(true);
    expect(onCpu.sync.every((v) => typeof v === 'number')).toBe(true);
  });
});
