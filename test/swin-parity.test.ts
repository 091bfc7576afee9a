// The authors' VoCo backbone (src/model/swin/) against golden values from their own PyTorch classes
// (VOCO_SWIN_FIXTURE, default test/fixtures/voco-swin/): every fixture tensor within 1e-4 relative, on cpu and wasm
// under Node; test/swin-parity-webgpu.test.ts runs the same on WebGPU (Dawn).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { VOCO_SWIN_FIXTURE } from './helpers/paths';
import { runSwinParity, type SwinParityReport } from '../src/selftest/swinParity';

export const SWIN_TOLERANCE = 1e-4;

export function fixtureBytes() {
  return {
    config: readFileSync(join(VOCO_SWIN_FIXTURE, 'swin-fs12.json'), 'utf8'),
    weights: new Uint8Array(readFileSync(join(VOCO_SWIN_FIXTURE, 'swin-fs12.safetensors'))),
    io: new Uint8Array(readFileSync(join(VOCO_SWIN_FIXTURE, 'swin-fs12-io.safetensors'))),
  };
}

export function checkReport(report: SwinParityReport, backend: string): void {
  for (const d of report.diffs) console.log(`[swin-parity ${backend}] ${d.name.padEnd(70)} ${d.relError.toExponential(2)} (max |want| ${d.maxAbsWant.toPrecision(3)}, ${d.count})`);
  console.log(`[swin-parity ${backend}] forward ${report.ms.forward} ms, gradient ${report.ms.gradient} ms`);
  expect(report.error).toBeNull();
  expect(report.backend).toBe(backend);
  expect(report.gpuErrors).toEqual([]);
  const names = report.diffs.map((d) => d.name);
  for (const want of ['swin.hidden0', 'swin.hidden4', 'enc0', 'enc4.pooled', 'embedding', 'student', 'teacher']) expect(names).toContain(want);
  expect(names.filter((n) => n.startsWith('grad.')).length).toBeGreaterThanOrEqual(1);
  for (const d of report.diffs) {
    expect(d.maxAbsWant, `${d.name} is all zeros`).toBeGreaterThan(0);
    expect(d.relError, d.name).toBeLessThanOrEqual(SWIN_TOLERANCE);
  }
}

describe('VoCo Swin backbone parity with the authors\' PyTorch (fixture)', () => {
  for (const backend of ['cpu', 'wasm'] as const) {
    it(`${backend}: every fixture tensor within 1e-4`, async () => {
      expect(await tf.setBackend(backend)).toBe(true);
      checkReport(await runSwinParity(fixtureBytes()), backend);
    }, 900_000);
  }
});
