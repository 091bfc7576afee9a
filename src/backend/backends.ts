// tfjs backend setup for the training worker (and Node tests): registration, the `auto` probe,
// the per-device memory of the probe's choice, and the WebGPU error channel.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { getThreadsCount, setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { BackendChoice, BackendInfo, BackendName } from '../worker/protocol';
import { BACKEND_NAMES, chooseBackend, isBackendName, looksSoftware, type ProbeMeasurement } from './choose';
import { measureMatmul } from './matmulProbe';
import { forgetChoice, recallChoice, rememberChoice } from './remember';
import { installWasmBatchMatMul } from '../kernels/wasmBatchMatMul';
import { installWasmSplitV } from '../kernels/splitColumns';
import { installWasmIdentityShare } from '../kernels/wasmIdentityShare';
import { useRegisterTiledMatMul } from '../kernels/matMulRegisterTiled';
import { retypeHalfBindings } from '../kernels/matMulPackedHalf';
import { installChunkedAddN } from './webgpuAddN';
import { installWasmMatMulPolicy } from './wasmMatMulPolicy';
import { wasmBackendMemory } from '../kernels/wasmSimdBatchMatMul';
import { startGemmHelpers } from '../kernels/wasmSimdGemmThreads';
import { applyWebGpuKernelChoice, chooseWebGpuKernels, describeWebGpuKernelChoice, type WebGpuKernelChoice } from './webgpuKernelChoice';

export interface InitBackendOptions {
  /** Total time the `auto` probe may spend measuring (ms). Default 1500. */
  probeMs?: number;
  /** A backend remembered by the caller for this device: `auto` uses it without probing. */
  remembered?: BackendName;
  /** `auto` reads/writes its choice in IndexedDB (where there is one). Default true. */
  useStore?: boolean;
  /** Ignore any remembered choice and probe again. */
  reprobe?: boolean;
  /** Where the tfjs wasm binaries are served. Default '/tfjs-wasm/' in browsers; the package folder in Node. */
  wasmPath?: string;
  /** wasm threads; default: all logical cores. */
  wasmThreads?: number;
  /**
   * Benchmarks only: keep tfjs's stock kernels (no wasm BatchMatMul fast paths, no chunked WebGPU AddN, no
   * register-tiled matmul). Takes effect on the first initBackend of a worker. WebGPU AddN over many tensors
   * is then WRONG: never train like this.
   */
  stockKernels?: boolean;
  /**
   * WebGPU: let the per-device kernel choice consider half-precision storage for matmul operands (rounded to f16,
   * summed in f32; src/kernels/matMulPackedHalf.ts). It changes the numbers, so it is off unless a run opts in.
   */
  halfPrecisionMatmul?: boolean;
}

/** What the probe saw, beyond BackendInfo (the benchmark prints it). */
export interface InitBackendResult extends BackendInfo {
  measurements?: ProbeMeasurement[];
  /** Stock tfjs kernels replaced by ours on this backend (see src/kernels), for reports. */
  kernels?: string[];
}

// ---------------------------------------------------------------------------------------------
// Registration. Each factory is wrapped so that a failed start keeps its error message
// (tfjs only logs it and resolves setBackend to false).

const initErrors = new Map<BackendName, string>();
const tfjsFactories = new Map<BackendName, () => tf.KernelBackend | Promise<tf.KernelBackend>>();
let webgpuDevice: GPUDevice | null = null;
let webgpuAdapterText: string | undefined;
let webgpuSoftware = false;
const gpuErrorListeners = new Set<(message: string) => void>();
let wasmConfigured = false;
let wasmThreadsWanted = 1;
/** Threads the wasm SIMD GEMM runs on (the caller + helpers started with the backend). */
let wasmGemmThreads = 1;
let wasmMatMulInstalled = false;
let wasmSplitInstalled = false;
let wasmIdentityInstalled = false;
let webgpuAddNInstalled = false;
let kernelsDecided = false;
let webgpuChoice: (WebGpuKernelChoice & { source: string }) | null = null;
let kernelStore = true;
let halfPrecisionMatmul = false;
let stockKernels = false;

/**
 * tfjs-backend-wasm 4.22 caps its XNNPACK thread pool at hardwareConcurrency / 2 (it assumes two
 * hyper-threads per core), so a 2-core machine gets ONE thread whatever setThreadsCount says.
 * The cap is read from navigator.hardwareConcurrency while the module starts; showing it twice the
 * wanted thread count for that moment lets setThreadsCount decide. (Pool workers: 8, preallocated.)
 */
async function withAllCoresVisible<T>(factory: () => T | Promise<T>, threads: number): Promise<T> {
  const nav = globalThis.navigator as Navigator | undefined;
  const own = nav && Object.getOwnPropertyDescriptor(nav, 'hardwareConcurrency');
  let patched = false;
  if (nav && threads > 1) {
    try {
      Object.defineProperty(nav, 'hardwareConcurrency', { value: threads * 2, configurable: true });
      patched = true;
    } catch {
      /* read-only navigator: tfjs's own cap applies, and wasmThreads reports it */
    }
  }
  try {
    return await factory();
  } finally {
    if (patched) {
      if (own) Object.defineProperty(nav!, 'hardwareConcurrency', own);
      else delete (nav as unknown as Record<string, unknown>).hardwareConcurrency;
    }
  }
}

function emitGpuError(message: string) {
  for (const cb of gpuErrorListeners) cb(message);
}

/** Our own WebGPU factory: same device limits as tfjs's, but we keep the adapter facts and the device. */
async function createWebGpuBackend(): Promise<tf.KernelBackend> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new Error('navigator.gpu is missing (this browser has no WebGPU, or the page is not a secure context)');
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned no adapter (WebGPU disabled or no usable GPU)');
  const facts = adapterFacts(adapter);
  const features: GPUFeatureName[] = [];
  // subgroups / shader-f16: requested where offered, so kernel variants that use them can be measured (webgpuKernelChoice).
  for (const f of ['timestamp-query', 'subgroups', 'shader-f16'] as GPUFeatureName[]) if (adapter.features.has(f)) features.push(f);
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      // Programs with many inputs (concat, addN) bind one storage buffer each; take all the adapter offers.
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
    },
  });
  hoistEnableDirectives(device);
  // GPU validation errors never throw in tfjs: a WGSL program that fails to compile yields zeros.
  device.addEventListener('uncapturederror', (e) => emitGpuError((e as GPUUncapturedErrorEvent).error.message));
  device.lost.then((info) => {
    if (info.reason !== 'destroyed') emitGpuError(`WebGPU device lost (${info.reason}): ${info.message}`);
  });
  webgpuDevice = device;
  webgpuAdapterText = facts.text;
  webgpuSoftware = facts.software;
  // tfjs's AdapterInfo only reads vendor/architecture.
  return new WebGPUBackend(device, { vendor: facts.vendor, architecture: facts.architecture } as GPUAdapterInfo);
}

/**
 * tfjs assembles a shader as its prologue + the program's code, so a program cannot put `enable …;` first, where WGSL
 * requires it. This wraps the device's createShaderModule to move such directives to the top (only shaders that
 * contain one are touched: ours with subgroup variants). It also gives the half-precision matmul's native variant its
 * array<vec2<f16>> bindings (retypeHalfBindings in src/kernels/matMulPackedHalf.ts; only shaders that mark them).
 */
export function hoistEnableDirectives(device: GPUDevice): void {
  const create = device.createShaderModule.bind(device);
  device.createShaderModule = (desc: GPUShaderModuleDescriptor) => {
    const enables: string[] = [];
    const code = retypeHalfBindings(desc.code).replace(/^\s*enable\s+[\w\s,]+;\s*$/gm, (line) => (enables.push(line.trim()), ''));
    return create(enables.length ? { ...desc, code: `${[...new Set(enables)].join('\n')}\n${code}` } : desc);
  };
}

export interface AdapterFacts {
  vendor: string;
  architecture: string;
  description: string;
  fallback: boolean;
  software: boolean;
  text: string;
}

export function adapterFacts(adapter: GPUAdapter): AdapterFacts {
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const description = info?.description ?? '';
  // `isFallbackAdapter` moved from the adapter to adapter.info in newer browsers.
  const fallback =
    Boolean((info as (GPUAdapterInfo & { isFallbackAdapter?: boolean }) | undefined)?.isFallbackAdapter) ||
    Boolean((adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter);
  const software = fallback || looksSoftware(vendor, architecture, description);
  const text = [vendor, architecture, description].filter(Boolean).join(' / ') + (fallback ? ' (fallback adapter)' : '');
  return { vendor, architecture, description, fallback, software, text: text || 'unknown adapter' };
}

function registerWrapped(name: BackendName, factory: () => tf.KernelBackend | Promise<tf.KernelBackend>, priority: number) {
  tfjsFactories.set(name, factory);
  if (tf.findBackendFactory(name)) tf.removeBackend(name);
  tf.registerBackend(
    name,
    async () => {
      initErrors.delete(name);
      try {
        return await factory();
      } catch (err) {
        initErrors.set(name, errorText(err));
        throw err;
      }
    },
    priority,
  );
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object' && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}

const isNode = () => typeof process !== 'undefined' && !!process.versions?.node && typeof window === 'undefined';

/** Registers (once) the four backends under our wrappers. Safe to call repeatedly. */
export function registerBackends(opts: Pick<InitBackendOptions, 'wasmPath' | 'wasmThreads' | 'stockKernels'> = {}): void {
  if (!wasmConfigured) {
    const path = opts.wasmPath ?? (isNode() ? undefined : '/tfjs-wasm/');
    if (path) setWasmPaths(path);
    const cores = (globalThis.navigator as Navigator | undefined)?.hardwareConcurrency ?? 1;
    wasmThreadsWanted = Math.max(1, Math.min(8, opts.wasmThreads ?? cores));
    setThreadsCount(wasmThreadsWanted);
    wasmConfigured = true;
  }
  for (const name of ['cpu', 'wasm', 'webgl'] as const) {
    if (tfjsFactories.has(name)) continue;
    const f = tf.findBackendFactory(name);
    if (f) registerWrapped(name, name === 'wasm' ? () => withAllCoresVisible(f, wasmThreadsWanted) : f, name === 'webgl' ? 2 : 1);
  }
  if (!tfjsFactories.has('webgpu')) registerWrapped('webgpu', createWebGpuBackend, 3);
  tf.env().set('WEBGPU_CPU_FORWARD', false); // every op on the GPU: one code path, parity-tested
  if (kernelsDecided) return;
  kernelsDecided = true;
  stockKernels = !!opts.stockKernels;
  if (stockKernels) return;
  // wasm's stock BatchMatMul takes XNNPACK only for untransposed 2-D products; every gradient and all of
  // attention fall to a scalar loop. The replacement routes them to XNNPACK (.team/perf-notes.md §1).
  if (tfjsFactories.has('wasm')) {
    const stock = tf.getKernel('BatchMatMul', 'wasm');
    wasmMatMulInstalled = installWasmBatchMatMul();
    // …except batches of small products (attention), which the stock loop does faster (perf-notes §6).
    if (wasmMatMulInstalled && stock) wasmMatMulInstalled = installWasmMatMulPolicy(stock);
    // Splits along the last axis (attention's q | k | v) as SIMD row-block copies instead of strided slices.
    wasmSplitInstalled = installWasmSplitV();
    // Clones (every tensor a gradient saves) share the buffer instead of copying it.
    wasmIdentityInstalled = installWasmIdentityShare();
  }
  // webgpu's AddN binds one storage buffer per input: more than the device allows fails silently.
  webgpuAddNInstalled = installChunkedAddN();
}

/**
 * Starts a backend. `measureKernels`: on webgpu, choose our kernels by measurement (remembered per device); the auto
 * probe passes false and the chosen backend is started again with true.
 */
async function startBackend(name: BackendName, measureKernels = true): Promise<void> {
  if (!tfjsFactories.has(name)) {
    throw new Error(`Backend '${name}' is not available in this environment (its tfjs package did not register it)`);
  }
  const ok = await tf.setBackend(name);
  if (!ok) {
    throw new Error(`Backend '${name}' could not start: ${initErrors.get(name) ?? 'tfjs reported a failed initialisation'}`);
  }
  await tf.ready();
  if (name === 'wasm' && wasmMatMulInstalled) {
    // The SIMD GEMM's helper threads (one per extra core): products it takes use every core, as XNNPACK's do.
    const memory = wasmBackendMemory(tf.backend());
    if (memory) wasmGemmThreads = await startGemmHelpers(memory, getThreadsCount() - 1);
  }
  if (name === 'webgpu' && !stockKernels) {
    if (measureKernels) {
      // Matmul and crop-sampler kernels by measurement on THIS adapter, software or not (webgpuKernelChoice.ts).
      const features = webgpuDevice ? [...webgpuDevice.features].map(String) : [];
      const nav = globalThis.navigator as Navigator | undefined;
      webgpuChoice = await chooseWebGpuKernels(`${nav?.userAgent ?? 'node'} | ${webgpuAdapterText ?? 'unknown adapter'} | ${features.sort().join(',')}`, features, { useStore: kernelStore, halfPrecision: halfPrecisionMatmul });
      applyWebGpuKernelChoice(webgpuChoice);
    } else if (!webgpuChoice) {
      // Probe only, nothing measured yet: tfjs's shared-memory tiles crawl on a software adapter (barriers are
      // emulated), where the register-tiled kernel is several times faster.
      useRegisterTiledMatMul(webgpuSoftware);
    }
  }
}

/** Which of our kernel replacements serve the named backend. */
function kernelsFor(name: BackendName): string[] {
  if (name === 'wasm' && wasmMatMulInstalled) {
    return [
      `BatchMatMul and the linear layers' _FusedMatMul → SIMD GEMM on ${wasmGemmThreads} thread${wasmGemmThreads === 1 ? '' : 's'} (other transposed/batched products: XNNPACK; small batched pairs: SIMD batch kernel)`,
      ...(wasmSplitInstalled ? ['SplitV (last axis) → SIMD row-block copy'] : []),
      ...(wasmIdentityInstalled ? ['Identity → shared buffer (no copy)'] : []),
    ];
  }
  if (name === 'webgpu' && !stockKernels) {
    return [
      ...(webgpuAddNInstalled ? ['AddN → chunked to the storage-buffer limit'] : []),
      ...(webgpuChoice ? [describeWebGpuKernelChoice(webgpuChoice)] : webgpuSoftware ? ['BatchMatMul → register-tiled (software adapter)'] : []),
    ];
  }
  return [];
}

/** Frees a GPU backend we probed but did not choose (device, buffers, GL context), keeping it selectable later. */
function releaseBackend(name: BackendName) {
  const f = tfjsFactories.get(name);
  if (!f || tf.getBackend() === name || !tf.engine().registry[name]) return;
  // Only GPU backends hold much (a device, buffers, a GL context); wasm's thread pool is costly to rebuild and
  // cpu may hold tensors made before initBackend.
  if (name !== 'webgpu' && name !== 'webgl') return;
  registerWrapped(name, f, name === 'webgpu' ? 3 : name === 'webgl' ? 2 : 1);
  if (name === 'webgpu') webgpuDevice = null;
}

/** Renderer / adapter text and the software flag of a started backend. */
function describeStarted(name: BackendName): { adapter?: string; software: boolean; wasmThreads?: number; kernels?: string[] } {
  const threads = tf.engine().registry.wasm ? { wasmThreads: getThreadsCount() } : {};
  const kernels = kernelsFor(name);
  return { ...describeOnly(name), ...threads, ...(kernels.length ? { kernels } : {}) };
}

function describeOnly(name: BackendName): { adapter?: string; software: boolean } {
  if (name === 'webgpu') return { adapter: webgpuAdapterText, software: webgpuSoftware };
  if (name === 'webgl') {
    const gl = (tf.backend() as unknown as { gpgpu?: { gl?: WebGL2RenderingContext } }).gpgpu?.gl;
    let renderer = '';
    if (gl) {
      const dbg = gl.getExtension('WEBGL_debug_renderer_info');
      renderer = String(gl.getParameter(dbg ? dbg.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? '');
    }
    return { adapter: renderer || undefined, software: looksSoftware(renderer) };
  }
  return { software: false };
}

// ---------------------------------------------------------------------------------------------
// The probe

/** Measures matmul GFLOP/s on each named backend within about `budgetMs` in total. */
export async function probeBackends(names: BackendName[], budgetMs = 1500): Promise<ProbeMeasurement[]> {
  registerBackends();
  const out: ProbeMeasurement[] = [];
  const per = budgetMs / Math.max(1, names.length);
  for (const name of names) {
    const started = performance.now();
    const took = () => Math.round(performance.now() - started);
    try {
      await startBackend(name, false);
    } catch (err) {
      out.push({ name, gflops: null, software: false, error: errorText(err), ms: took() });
      continue;
    }
    const facts = describeStarted(name);
    try {
      const t0 = performance.now();
      const small = await measureMatmul(256, { budgetMs: per * 0.4, minRounds: 2, maxRounds: 20 });
      let gflops = small.gflops;
      // A 512² round costs 8× the flops: only when it fits the rest of this backend's budget.
      const left = per - (performance.now() - t0);
      const bigRoundMs = (8 * 2 * 256 ** 3 * small.perRound) / (small.gflops * 1e6);
      if (bigRoundMs * 3 < left) {
        const big = await measureMatmul(512, { budgetMs: left - bigRoundMs, minRounds: 1, maxRounds: 20 });
        gflops = Math.max(gflops, big.gflops);
      }
      out.push({ name, gflops, software: facts.software, adapter: facts.adapter, ms: took() });
    } catch (err) {
      out.push({ name, gflops: null, software: facts.software, adapter: facts.adapter, error: errorText(err), ms: took() });
    }
  }
  return out;
}

/** Identifies "this device" for the remembered choice: browser build plus GPU adapter. */
async function deviceKey(): Promise<string> {
  const nav = globalThis.navigator as Navigator | undefined;
  let adapter = '';
  try {
    const a = await nav?.gpu?.requestAdapter();
    if (a) adapter = adapterFacts(a).text;
  } catch {
    /* no WebGPU: the key is the user agent alone */
  }
  return `${nav?.userAgent ?? 'unknown'} | ${adapter || 'no webgpu'} | cores ${nav?.hardwareConcurrency ?? '?'}`;
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Starts a tfjs backend. A forced choice starts that backend or throws (never falls back).
 * `auto` uses the remembered choice for this device or probes matmul throughput on every backend
 * and picks the fastest, never a software GPU adapter while wasm/cpu work.
 */
export async function initBackend(choice: BackendChoice, opts: InitBackendOptions = {}): Promise<InitBackendResult> {
  if (choice !== 'auto' && !isBackendName(choice)) {
    throw new Error(`Unknown backend '${String(choice)}': choose one of auto, ${BACKEND_NAMES.join(', ')}`);
  }
  registerBackends(opts);
  kernelStore = opts.useStore ?? true;
  halfPrecisionMatmul = !!opts.halfPrecisionMatmul;

  if (choice !== 'auto') {
    await startBackend(choice);
    const facts = describeStarted(choice);
    const note = facts.software ? ` (software adapter ${facts.adapter ?? ''}: expect slow training)` : '';
    return { name: choice, ...facts, reason: `chosen by the user${note}` };
  }

  const useStore = opts.useStore ?? true;
  let key: string | null = null;
  let stale = '';
  if (!opts.reprobe) {
    let remembered: { name: BackendName; reason: string } | null = opts.remembered
      ? { name: opts.remembered, reason: 'passed by the caller' }
      : null;
    if (!remembered && useStore) {
      key = await deviceKey();
      remembered = await recallChoice(key);
    }
    if (remembered && isBackendName(remembered.name)) {
      try {
        await startBackend(remembered.name);
        const facts = describeStarted(remembered.name);
        return { name: remembered.name, ...facts, reason: `remembered for this device (${remembered.reason})` };
      } catch (err) {
        stale = `; the remembered ${remembered.name} failed to start (${errorText(err)}), so probed again`;
        if (key) await forgetChoice(key);
      }
    }
  }

  const candidates = BACKEND_NAMES.filter((n) => tfjsFactories.has(n));
  const measurements = await probeBackends(candidates, opts.probeMs ?? 1500);
  const decision = chooseBackend(measurements);
  for (const m of measurements) if (m.name !== decision.name) releaseBackend(m.name);
  await startBackend(decision.name);
  const facts = describeStarted(decision.name);
  if (useStore) {
    key ??= await deviceKey();
    await rememberChoice(key, { name: decision.name, reason: decision.reason });
  }
  return { name: decision.name, ...facts, reason: decision.reason + stale, measurements };
}

/**
 * Listens for WebGPU errors that tfjs would otherwise swallow (validation errors from a WGSL program
 * that failed to compile, out-of-memory, device loss). Works before or after the device exists.
 */
export function onGpuError(cb: (message: string) => void): () => void {
  gpuErrorListeners.add(cb);
  return () => gpuErrorListeners.delete(cb);
}

/** The current WebGPU device, when the webgpu backend is running (for tests and diagnostics). */
export function currentWebGpuDevice(): GPUDevice | null {
  return webgpuDevice;
}
