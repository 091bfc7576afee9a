// The pure part of backend selection: given what the probe measured, which backend trains fastest?
// Kept free of tfjs so it can be unit-tested with made-up measurements.
import type { BackendName } from '../worker/protocol';

export const BACKEND_NAMES: readonly BackendName[] = ['webgpu', 'webgl', 'wasm', 'cpu'];

export function isBackendName(x: unknown): x is BackendName {
  return typeof x === 'string' && (BACKEND_NAMES as readonly string[]).includes(x);
}

/** One backend's probe outcome: matmul throughput after warm-up, or why it could not be measured. */
export interface ProbeMeasurement {
  name: BackendName;
  /** Measured matmul GFLOP/s; null when the backend failed to start or to run. */
  gflops: number | null;
  /** A software rasteriser/adapter (SwiftShader, llvmpipe, WARP, fallback adapter). */
  software: boolean;
  /** Adapter / renderer description, when there is one. */
  adapter?: string;
  /** Why it was not measured (error message), if so. */
  error?: string;
  /** Wall time spent on this backend: start-up (wasm download, GPU device, shader compile) plus measuring. */
  ms?: number;
}

export interface BackendDecision {
  name: BackendName;
  reason: string;
}

const fmt = (g: number) => (g >= 10 ? g.toFixed(0) : g >= 1 ? g.toFixed(1) : g.toFixed(2));

function describe(m: ProbeMeasurement): string {
  if (m.gflops == null) return `${m.name} unavailable${m.error ? ` (${m.error})` : ''}`;
  return `${m.name} ${fmt(m.gflops)}${m.software && m.name !== 'wasm' && m.name !== 'cpu' ? ' (software adapter)' : ''}`;
}

const isGpu = (n: BackendName) => n === 'webgpu' || n === 'webgl';

/**
 * Picks the backend with the highest measured matmul GFLOP/s. A GPU backend running on a software
 * adapter is never picked while a CPU backend (wasm, cpu) works: its kernels pay GPU dispatch costs
 * without GPU throughput, and its training step is far slower than its matmul number suggests
 * (conv/gather/elementwise kernels emulate the GPU on the same cores that wasm would use directly).
 */
export function chooseBackend(measurements: ProbeMeasurement[]): BackendDecision {
  const working = measurements.filter((m) => m.gflops != null && Number.isFinite(m.gflops) && m.gflops > 0);
  if (working.length === 0) {
    throw new Error(
      `No tfjs backend could run a matmul: ${measurements.map(describe).join('; ') || 'nothing was probed'}.`,
    );
  }
  const hasCpuBackend = working.some((m) => !isGpu(m.name));
  const eligible = working.filter((m) => !(isGpu(m.name) && m.software && hasCpuBackend));
  const best = eligible.reduce((a, b) => (b.gflops! > a.gflops! ? b : a));
  const others = measurements.filter((m) => m !== best);
  const tail = others.length
    ? ` > ${others.sort((a, b) => (b.gflops ?? -1) - (a.gflops ?? -1)).map(describe).join(', ')}`
    : '';
  const excluded = working.some((m) => !eligible.includes(m)) ? '; software GPU adapters are never auto-picked' : '';
  return { name: best.name, reason: `measured matmul GFLOP/s: ${describe(best)}${tail}${excluded}` };
}

/** Heuristic from adapter strings: SwiftShader, llvmpipe/lavapipe (Mesa), WARP (Windows), generic "software". */
export function looksSoftware(...descriptions: (string | undefined | null)[]): boolean {
  return /swiftshader|llvmpipe|lavapipe|softpipe|\bwarp\b|microsoft basic render|software/i.test(
    descriptions.filter(Boolean).join(' '),
  );
}
