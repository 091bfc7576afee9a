// Shared by the Swin parity tests (cpu/wasm and webgpu): the fixture files as bytes, and the checks on a report.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { VOCO_SWIN_FIXTURE } from './paths';
import { relMaxError, SWIN_TOLERANCE, type SwinParityOptions, type SwinParityReport } from '../../src/selftest/swinParity';
import { float64Gradients, type Float64Reference } from './swinFloat64';


export function fixtureBytes() {
  return {
    config: readFileSync(join(VOCO_SWIN_FIXTURE, 'swin-fs12.json'), 'utf8'),
    weights: new Uint8Array(readFileSync(join(VOCO_SWIN_FIXTURE, 'swin-fs12.safetensors'))),
    io: new Uint8Array(readFileSync(join(VOCO_SWIN_FIXTURE, 'swin-fs12-io.safetensors'))),
  };
}

let exact: Float64Reference | null = null;

/** The fixture's gradients in float64 (computed once per process, python3 + torch) and the fixture's own error. */
export function float64Reference(): Float64Reference {
  exact ??= float64Gradients([]);
  return exact;
}

/** What runSwinParity needs to hold each gradient to 1e-4 plus the fixture's own float32 error. */
export function parityOptions(): SwinParityOptions {
  return { fixtureError: float64Reference().fixture_error };
}

export function checkReport(report: SwinParityReport, backend: string): void {
  for (const d of report.diffs) console.log(`[swin-parity ${backend}] ${d.name.padEnd(70)} ${d.relError.toExponential(2)} (per element ${d.elementError.toExponential(2)}, max |want| ${d.maxAbsWant.toPrecision(3)}, ${d.count})`);
  console.log(`[swin-parity ${backend}] forward ${report.ms.forward} ms, gradient ${report.ms.gradient} ms`);
  expect(report.error).toBeNull();
  expect(report.backend).toBe(backend);
  expect(report.gpuErrors).toEqual([]);
  const names = report.diffs.map((d) => d.name);
  for (const want of ['swin.hidden0', 'swin.hidden4', 'enc0', 'enc4.pooled', 'embedding', 'student', 'teacher']) expect(names).toContain(want);
  const ref = float64Reference();
  const grads = names.filter((n) => n.startsWith('grad.')).map((n) => n.slice('grad.'.length));
  expect(grads.length).toBeGreaterThanOrEqual(1);
  expect(grads.sort()).toEqual(Object.keys(ref.gradients).sort());
  for (const d of report.diffs) {
    expect(d.maxAbsWant, `${d.name} is all zeros`).toBeGreaterThan(0);
    const bound = d.name.startsWith('grad.') ? SWIN_TOLERANCE + ref.fixture_error[d.name.slice('grad.'.length)] : d.name.includes('end to end') ? 1e-3 : SWIN_TOLERANCE;
    expect(d.tolerance, d.name).toBeLessThanOrEqual(bound * (1 + 1e-9));
    expect(d.relError, d.name).toBeLessThanOrEqual(d.tolerance);
  }
  // Every gradient within 1e-4 of the exact (float64) value.
  for (const name of grads) {
    const err = relMaxError(report.gradients[name], ref.gradients[name]);
    console.log(`[swin-parity ${backend}] grad.${name} vs float64 ${err.toExponential(2)} (the fixture itself: ${ref.fixture_error[name].toExponential(2)})`);
    expect(err, `grad.${name} against the float64 recomputation`).toBeLessThanOrEqual(SWIN_TOLERANCE);
  }
}
