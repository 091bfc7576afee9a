// Shared by the Swin parity tests (cpu/wasm and webgpu): the fixture files as bytes, and the checks on a report.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { VOCO_SWIN_FIXTURE } from './paths';
import { relMaxError, SWIN_TOLERANCE, type SwinParityReport } from '../../src/selftest/swinParity';
import { float64Gradients } from './swinFloat64';


export function fixtureBytes() {
  return {
    config: readFileSync(join(VOCO_SWIN_FIXTURE, 'swin-fs12.json'), 'utf8'),
    weights: new Uint8Array(readFileSync(join(VOCO_SWIN_FIXTURE, 'swin-fs12.safetensors'))),
    io: new Uint8Array(readFileSync(join(VOCO_SWIN_FIXTURE, 'swin-fs12-io.safetensors'))),
  };
}

export function checkReport(report: SwinParityReport, backend: string): void {
  for (const d of report.diffs) console.log(`[swin-parity ${backend}] ${d.name.padEnd(70)} ${d.relError.toExponential(2)} (per element ${d.elementError.toExponential(2)}, max |want| ${d.maxAbsWant.toPrecision(3)}, ${d.count})`);
  console.log(`[swin-parity ${backend}] forward ${report.ms.forward} ms, gradient ${report.ms.gradient} ms`);
  expect(report.error).toBeNull();
  expect(report.backend).toBe(backend);
  expect(report.gpuErrors).toEqual([]);
  const names = report.diffs.map((d) => d.name);
  for (const want of ['swin.hidden0', 'swin.hidden4', 'enc0', 'enc4.pooled', 'embedding', 'student', 'teacher']) expect(names).toContain(want);
  expect(names.filter((n) => n.startsWith('grad.')).length).toBeGreaterThanOrEqual(1);
  for (const d of report.diffs) {
    expect(d.maxAbsWant, `${d.name} is all zeros`).toBeGreaterThan(0);
    expect(d.tolerance).toBeLessThanOrEqual(d.name.includes('end to end') || d.name.startsWith('grad.backbone.encoder1.') ? 1e-3 : 1e-4);
    expect(d.relError, d.name).toBeLessThanOrEqual(d.tolerance);
  }
  checkRelaxedAgainstFloat64(report, backend);
}

/**
 * Every gradient held to a looser bound against the fixture (its float32 value is itself off, see
 * SWIN_FULL_RES_GRAD_TOLERANCE) is held to 1e-4 against the float64 recomputation.
 */
export function checkRelaxedAgainstFloat64(report: SwinParityReport, backend: string): void {
  const relaxed = report.diffs.filter((d) => d.tolerance > SWIN_TOLERANCE).map((d) => d.name);
  const grads = relaxed.filter((n) => n.startsWith('grad.')).map((n) => n.slice('grad.'.length));
  expect(Object.keys(report.relaxed).sort()).toEqual(grads.sort());
  if (!grads.length) return;
  const exact = float64Gradients(grads);
  for (const name of grads) {
    const err = relMaxError(report.relaxed[name], exact.gradients[name]);
    console.log(`[swin-parity ${backend}] grad.${name} vs float64 ${err.toExponential(2)} (the fixture itself: ${exact.fixture_error[name].toExponential(2)})`);
    expect(err, `grad.${name} against the float64 recomputation`).toBeLessThanOrEqual(SWIN_TOLERANCE);
  }
}

