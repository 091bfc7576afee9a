// Starts tfjs-backend-webgpu under Node on Dawn (the `webgpu` npm package), so WebGPU kernels can be
// unit-tested beside the CPU backend. Idempotent: every caller shares one attempt and one device.
//
//   const gpu = await initNodeWebgpu();          // also registers 'cpu'
//   describe.skipIf(SKIP_NODE_WEBGPU)('…', () => { beforeAll(() => requireWebgpu(gpu)); … });
//   await tf.setBackend('webgpu'); ... await tf.setBackend('cpu');
import type * as tfTypes from '@tensorflow/tfjs-core';

export interface NodeWebgpuResult {
  ok: boolean;
  /** Why WebGPU could not start (empty when ok). */
  reason: string;
  /** The adapter Dawn picked, for logs. */
  adapter: string;
}

let attempt: Promise<NodeWebgpuResult> | null = null;

/**
 * WebGPU tests are skipped only when asked by name (VOCO_SKIP_NODE_WEBGPU=1, e.g. on a machine whose Dawn cannot
 * start); otherwise a missing adapter FAILS them, so a broken WebGPU path never reads as "skipped".
 */
export const SKIP_NODE_WEBGPU = process.env.VOCO_SKIP_NODE_WEBGPU === '1';

/** Throws (failing the suite's setup, hence every test in it) when WebGPU did not start under Node. */
export function requireWebgpu(gpu: NodeWebgpuResult): void {
  if (!gpu.ok) throw new Error(`WebGPU is unavailable under Node (set VOCO_SKIP_NODE_WEBGPU=1 to skip on purpose): ${gpu.reason}`);
}

/**
 * Makes `navigator.gpu` a Dawn instance (OpenGL ES backend, compatibility mode, no display) and then loads tfjs
 * with the cpu and webgpu backends. navigator.gpu must exist BEFORE tfjs-backend-webgpu is first imported,
 * because that module only registers the 'webgpu' backend when it sees navigator.gpu; so import this helper
 * and await it before anything imports the webgpu backend.
 * Leaves the active backend as it found it (tfjs picks 'webgpu' by priority if nothing was set).
 */
export function initNodeWebgpu(): Promise<NodeWebgpuResult> {
  attempt ??= start();
  return attempt;
}

async function start(): Promise<NodeWebgpuResult> {
  const tf: typeof tfTypes = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  try {
    const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
    if (!g.navigator?.gpu) {
      process.env.EGL_PLATFORM ??= 'surfaceless';
      const { create, globals } = await import('webgpu');
      Object.assign(globalThis, globals);
      const gpu = create(['backend=opengl']);
      // Dawn's OpenGL ES backend only offers 'compatibility' adapters.
      const requestAdapter = gpu.requestAdapter.bind(gpu);
      gpu.requestAdapter = (options?: GPURequestAdapterOptions) =>
        requestAdapter({ ...options, featureLevel: 'compatibility' } as GPURequestAdapterOptions);
      Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    }
    await import('@tensorflow/tfjs-backend-webgpu');
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    const previous = tfActiveBackendName(tf);
    const ok = await tf.setBackend('webgpu');
    if (!ok) return { ok: false, reason: 'tf.setBackend("webgpu") returned false (no adapter or device)', adapter: '' };
    const backend = tf.backend() as unknown as { adapterInfo?: { description?: string; vendor?: string; architecture?: string } };
    const info = backend.adapterInfo;
    const adapter = [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
    if (previous) await tf.setBackend(previous);
    return { ok: true, reason: '', adapter };
  } catch (err) {
    return { ok: false, reason: `WebGPU under Node failed: ${(err as Error)?.message ?? String(err)}`, adapter: '' };
  }
}

function tfActiveBackendName(tf: typeof tfTypes): string | null {
  // tf.getBackend() would initialise the best backend as a side effect; peek at the engine instead.
  const engine = tf.engine() as unknown as { backendName: string | null };
  return engine.backendName ?? null;
}
