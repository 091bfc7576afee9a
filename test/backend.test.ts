import { describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { chooseBackend, looksSoftware, type ProbeMeasurement } from '../src/backend/choose';
import { initBackend, onGpuError, probeBackends } from '../src/backend/backends';
import type { BackendChoice } from '../src/worker/protocol';

const m = (name: ProbeMeasurement['name'], gflops: number | null, software = false): ProbeMeasurement => ({
  name,
  gflops,
  software,
});

describe('chooseBackend (pure decision)', () => {
  it('picks the fastest measured backend', () => {
    const d = chooseBackend([m('webgpu', 300), m('webgl', 80), m('wasm', 25), m('cpu', 1.2)]);
    expect(d.name).toBe('webgpu');
    expect(d.reason).toMatch(/^measured/);
    expect(d.reason).toContain('webgpu 300');
    expect(d.reason).toContain('wasm 25');
  });

  it('picks wasm over cpu and over slower GPUs', () => {
    expect(chooseBackend([m('webgpu', 3), m('webgl', 2), m('wasm', 25), m('cpu', 1)]).name).toBe('wasm');
    expect(chooseBackend([m('wasm', 1), m('cpu', 2)]).name).toBe('cpu');
  });

  it('never picks a software GPU adapter while a CPU backend works, however fast it measured', () => {
    const d = chooseBackend([m('webgpu', 90, true), m('webgl', 60, true), m('wasm', 25), m('cpu', 1)]);
    expect(d.name).toBe('wasm');
    expect(d.reason).toContain('software adapter');
    expect(d.reason).toContain('never auto-picked');
  });

  it('the situation on the 2-core SwiftShader machine: wasm', () => {
    const d = chooseBackend([m('webgpu', 0.67, true), m('webgl', 1.5, true), m('wasm', 27), m('cpu', 1.1)]);
    expect(d.name).toBe('wasm');
    expect(d.reason).toMatch(/measured matmul GFLOP\/s: wasm 27 > .*webgpu 0\.67 \(software adapter\)/);
  });

  it('uses a software GPU only when nothing else runs', () => {
    expect(chooseBackend([m('webgpu', 0.6, true), m('wasm', null), m('cpu', null)]).name).toBe('webgpu');
  });

  it('skips failed backends and throws when none works', () => {
    expect(chooseBackend([m('webgpu', null), m('wasm', 10)]).name).toBe('wasm');
    expect(() => chooseBackend([{ ...m('wasm', null), error: 'wasm binary 404' }])).toThrow(/wasm binary 404/);
    expect(() => chooseBackend([m('cpu', Number.NaN)])).toThrow(/No tfjs backend/);
  });

  it('recognises software adapters by their strings', () => {
    expect(looksSoftware('google', 'swiftshader', '')).toBe(true);
    expect(looksSoftware('ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero)), SwiftShader driver)')).toBe(true);
    expect(looksSoftware('llvmpipe (LLVM 15.0.6, 256 bits)')).toBe(true);
    expect(looksSoftware('nvidia', 'ada', 'NVIDIA GeForce RTX 4090')).toBe(false);
    expect(looksSoftware('apple', 'metal-3', '')).toBe(false);
  });
});

describe('initBackend under Node', () => {
  it('starts the cpu backend and runs an op on it', async () => {
    const info = await initBackend('cpu');
    expect(info).toMatchObject({ name: 'cpu', software: false });
    expect(info.reason).toMatch(/user/);
    expect(tf.getBackend()).toBe('cpu');
    expect(Array.from(await tf.add(tf.tensor1d([1, 2]), 1).data())).toEqual([2, 3]);
  });

  it('rejects an unknown backend with a message that lists the valid ones', async () => {
    await expect(initBackend('cuda' as BackendChoice)).rejects.toThrow(
      "Unknown backend 'cuda': choose one of auto, webgpu, webgl, wasm, cpu",
    );
    expect(tf.getBackend()).toBe('cpu'); // nothing changed
  });

  it('a forced backend that cannot start is an error, never a silent fallback', async () => {
    // Node has no WebGL; this Node process has no navigator.gpu either.
    await expect(initBackend('webgl')).rejects.toThrow(/'webgl' is not available/);
    await expect(initBackend('webgpu')).rejects.toThrow(/'webgpu' could not start: navigator\.gpu is missing/);
  });

  it('the wasm backend starts (single-threaded under Node) and reports its thread count', async () => {
    const info = await initBackend('wasm');
    expect(info.name).toBe('wasm');
    expect(info.wasmThreads).toBe(1);
    expect(info.kernels).toEqual([expect.stringMatching(/^BatchMatMul and the linear layers' _FusedMatMul → SIMD GEMM on 1 thread /), 'SplitV (last axis) → SIMD row-block copy', 'Identity → shared buffer (no copy)']);
    expect(Array.from(await tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]])).data())).toEqual([11]);
    // A transposed product (the gradient's shape) goes through the replaced kernel and stays right.
    expect(Array.from(await tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3, 4]]), false, true).data())).toEqual([11]);
  });

  it('auto probes the available backends and explains its choice', async () => {
    const info = await initBackend('auto', { probeMs: 400, useStore: false });
    const measured = info.measurements!.filter((x) => x.gflops != null).map((x) => x.name);
    expect(measured).toEqual(expect.arrayContaining(['wasm', 'cpu']));
    expect(info.measurements!.find((x) => x.name === 'webgpu')!.error).toMatch(/navigator\.gpu/);
    expect(['wasm', 'cpu']).toContain(info.name);
    expect(info.reason).toMatch(/^measured matmul GFLOP\/s: (wasm|cpu) [\d.]+ > /);
    expect(tf.getBackend()).toBe(info.name);
  });

  it('auto uses a remembered choice without probing', async () => {
    const info = await initBackend('auto', { remembered: 'cpu', useStore: false });
    expect(info.name).toBe('cpu');
    expect(info.reason).toMatch(/remembered/);
    expect(info.measurements).toBeUndefined();
  });

  it('probeBackends measures positive GFLOP/s', async () => {
    const [cpu] = await probeBackends(['cpu'], 200);
    expect(cpu.gflops).toBeGreaterThan(0.01);
  });

  it('onGpuError returns an unsubscribe function', () => {
    const off = onGpuError(() => {});
    expect(typeof off).toBe('function');
    off();
  });
});


describe('wasm BatchMatMul routing (src/backend/wasmMatMulPolicy.ts)', () => {
  it('sends batches of small products to the stock loop and the rest to XNNPACK paths', async () => {
    const { preferStockLoop, SMALL_PAIR_WORK } = await import('../src/backend/wasmMatMulPolicy');
    expect(preferStockLoop(44, 64, 64, 64)).toBe(true); // attention pairs of S/B/L/H
    expect(preferStockLoop(1, 64, 64, 64)).toBe(false); // a single product: XNNPACK
    expect(preferStockLoop(44, 512, 16, 512)).toBe(false); // tiny's attention: 4 M multiply-adds per pair
    expect(preferStockLoop(1, 512, 1408, 1)).toBe(true); // a column sum written as a matmul
    const { isThin } = await import('../src/backend/wasmMatMulPolicy');
    expect(isThin(22, 1024)).toBe(true); // a head's dX = dY·Wᵀ
    expect(isThin(1408, 512)).toBe(false);
    expect(SMALL_PAIR_WORK).toBe(2 ** 19);
  });

  it('gives the cpu backend\'s results on both routes, for every transpose flag', async () => {
    const cases: [number, number, number, number][] = [
      [3, 8, 5, 7], // small pairs → stock loop
      [2, 100, 80, 90], // 720 k multiply-adds per pair → XNNPACK pairwise
      [1, 33, 17, 29], // single product, transposed → XNNPACK with explicit transposes
      [1, 40, 30, 1], // matrix-vector → stock loop
      [1, 6, 40, 70], // thin: with transposeB computed as (B·Aᵀ)ᵀ
    ];
    for (const [batch, m, k, n] of cases) {
      for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
        const lead = batch > 1 ? [batch] : [];
        const aData = tf.randomNormal([...lead, ...(ta ? [k, m] : [m, k])], 0, 1, 'float32', 7);
        const bData = tf.randomNormal([...lead, ...(tb ? [n, k] : [k, n])], 0, 1, 'float32', 8);
        const [av, bv] = [await aData.array(), await bData.array()];
        await initBackend('cpu');
        const want = await tf.matMul(tf.tensor(av as number[]), tf.tensor(bv as number[]), ta, tb).data();
        await initBackend('wasm');
        const got = await tf.matMul(tf.tensor(av as number[]), tf.tensor(bv as number[]), ta, tb).data();
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]));
        expect(got.length).toBe(want.length);
        expect(worst).toBeLessThan(1e-3);
      }
    }
  });
});
