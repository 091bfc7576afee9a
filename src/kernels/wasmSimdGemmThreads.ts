// Shares the SIMD GEMM's tasks (wasmSimdGemm.ts) between the calling thread and helper workers. tfjs-backend-wasm's
// threaded build runs XNNPACK on a pthread pool, but our own kernels run on the calling thread only: on a 2-core
// machine that leaves half the CPU idle during every product they take. The helpers instantiate the same module on
// the same shared WebAssembly.Memory (no copies), sleep on a futex (Atomics.wait) between products, and claim tasks
// from one counter that the caller also claims from: a helper that is descheduled or still asleep simply gets
// fewer tasks, and the caller waits only for tasks a helper has already taken.
//
// Control block (its own SharedArrayBuffer, Int32 slots): SLOT = generation << 16 | next task (claimed by
// compare-exchange, so a helper that read a finished product's parameters can never take a task of the next one),
// DONE (tasks finished), WAKE (bumped once per product), then the product's parameters.
import { gemmTaskCount, runGemmTask, setGemmTaskRunner, type GemmExports, type GemmJob, type GemmTaskRunner } from './wasmSimdGemm';

export const SLOT = 0;
export const DONE = 1;
export const WAKE = 2;
export const QUIT = 3;
export const NTASKS = 4;
/** Tasks the helpers have run, all products together (tests check that the helpers really take part). */
export const HELPED = 5;
/** Parameters from here on, as unsigned 32-bit values (heap offsets may exceed 2³¹). */
export const PARAMS_AT = 8;
const JOB_FIELDS = ['batch', 'batchA', 'batchB', 'm', 'k', 'n', 'transposeA', 'transposeB', 'a', 'b', 'c', 'bias', 'scratch', 'relaxed'] as const;
export const CONTROL_BYTES = 4 * (PARAMS_AT + JOB_FIELDS.length);
/** Most tasks one product may have (the low 16 bits of SLOT). */
export const MAX_TASKS = 0xffff;

export function writeJob(u: Uint32Array, job: GemmJob, relaxed: boolean): void {
  JOB_FIELDS.forEach((f, i) => {
    const v = f === 'relaxed' ? relaxed : job[f];
    u[PARAMS_AT + i] = typeof v === 'boolean' ? Number(v) : v;
  });
}

export function readJob(u: Uint32Array): { job: GemmJob; relaxed: boolean } {
  const v = (f: (typeof JOB_FIELDS)[number]) => u[PARAMS_AT + JOB_FIELDS.indexOf(f)];
  const job: GemmJob = {
    batch: v('batch'), batchA: v('batchA'), batchB: v('batchB'), m: v('m'), k: v('k'), n: v('n'),
    transposeA: v('transposeA') === 1, transposeB: v('transposeB') === 1, a: v('a'), b: v('b'), c: v('c'), bias: v('bias'), scratch: v('scratch'),
  };
  return { job, relaxed: v('relaxed') === 1 };
}

/**
 * Claims and runs tasks of the product of generation `gen` until none is left; returns how many it ran. Used by the
 * caller and by every helper alike.
 */
export function claimAndRun(ctrl: Int32Array, gen: number, total: number, x: GemmExports, job: GemmJob, thread = 0): number {
  const helper = thread > 0;
  let ran = 0;
  for (;;) {
    const v = Atomics.load(ctrl, SLOT);
    if (v >>> 16 !== gen || (v & 0xffff) >= total) {
      if (helper && ran) Atomics.add(ctrl, HELPED, ran);
      return ran;
    }
    if (Atomics.compareExchange(ctrl, SLOT, v, v + 1) !== v) continue;
    runGemmTask(x, job, v & 0xffff, thread);
    ran++;
    if (Atomics.add(ctrl, DONE, 1) + 1 === total) Atomics.notify(ctrl, DONE);
  }
}

interface Pool {
  workers: Worker[];
  control: SharedArrayBuffer;
}
const pools = new WeakMap<WebAssembly.Memory, Pool>();
let active: Pool | null = null;

/** Whether helpers can run here: a shared memory, module workers, and Atomics.wait in the helpers. */
export function gemmHelpersPossible(memory: WebAssembly.Memory): boolean {
  return (
    typeof Worker !== 'undefined' &&
    typeof SharedArrayBuffer !== 'undefined' &&
    memory.buffer instanceof SharedArrayBuffer &&
    (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true
  );
}

/**
 * Starts `count` helper workers on `memory` and installs the shared task runner; resolves to the number of threads
 * the kernel now uses (1 when helpers cannot run here or did not start within `timeoutMs`).
 */
export async function startGemmHelpers(memory: WebAssembly.Memory, count: number, timeoutMs = 10_000): Promise<number> {
  if (count < 1 || !gemmHelpersPossible(memory)) return 1;
  let pool = pools.get(memory);
  if (!pool) {
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const workers: Worker[] = [];
    const ready: Promise<boolean>[] = [];
    for (let i = 0; i < count; i++) {
      const w = new Worker(new URL('./wasmSimdGemm.worker.ts', import.meta.url), { type: 'module', name: `simd-gemm-${i + 1}` });
      workers.push(w);
      ready.push(
        new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), timeoutMs);
          w.onmessage = (e: MessageEvent<{ ready?: boolean; error?: string }>) => {
            clearTimeout(timer);
            if (e.data.error) console.warn(`SIMD GEMM helper ${i + 1} could not start: ${e.data.error}`);
            resolve(e.data.ready === true);
          };
          w.onerror = (e) => {
            clearTimeout(timer);
            console.warn(`SIMD GEMM helper ${i + 1} failed: ${e.message}`);
            resolve(false);
          };
        }),
      );
      w.postMessage({ memory, control, thread: i + 1 });
    }
    const ok = await Promise.all(ready);
    if (ok.some((r) => !r)) {
      for (const w of workers) w.terminate();
      return 1;
    }
    pool = { workers, control };
    pools.set(memory, pool);
  }
  active = pool;
  setGemmTaskRunner(sharedRunner(pool), 1 + pool.workers.length);
  return 1 + pool.workers.length;
}

/** Tasks the helper threads have run so far (0 without helpers). */
export function gemmHelperTasks(): number {
  return active ? Atomics.load(new Int32Array(active.control), HELPED) : 0;
}

let governed = true;
/** Benchmarks: the governor decides per shape (true, default) or every product is shared with the helpers (false). */
export function useGemmGovernor(enable: boolean): void {
  governed = enable;
}

/** Back to the calling thread alone (benchmarks' A/B); the helpers stay asleep until the next start. */
export function useGemmHelpers(enable: boolean): void {
  if (enable && active) setGemmTaskRunner(sharedRunner(active), 1 + active.workers.length);
  else setGemmTaskRunner(null);
}

const runnerOf = new WeakMap<Pool, GemmTaskRunner>();

/**
 * Keeps the helpers only where they pay, by measurement. On an oversubscribed machine a helper can be descheduled
 * while it holds a task, and the caller then waits out the helper's time slice (interleaved A/B on the shared 2-core
 * box at load 5–11: the step 0.73–0.99× as fast with the helpers as without). Per product shape it keeps a running
 * average of the time shared and alone, runs the faster way, and every `exploreEvery`-th call of that shape runs the
 * other way so that the averages follow the machine's load (exploring every 8th call cost the quiet machine 7 % of
 * the step against helpers on every product, 305 vs 283 ms; every 16th 0–10 %, within the noise at load 1–2).
 */
export class HelperGovernor {
  private readonly byShape = new Map<string, { shared: number | null; alone: number | null; calls: number }>();
  /** Products shared with the helpers / run alone since the start. */
  shared = 0;
  alone = 0;
  constructor(
    readonly exploreEvery = 32,
    readonly weight = 0.3,
  ) {}
  /** Whether the next product of this shape should be shared. */
  share(shape: string): boolean {
    let st = this.byShape.get(shape);
    if (!st) this.byShape.set(shape, (st = { shared: null, alone: null, calls: 0 }));
    st.calls++;
    let useShared: boolean;
    if (st.shared === null) useShared = true;
    else if (st.alone === null) useShared = false;
    else {
      const best = st.shared <= st.alone;
      useShared = st.calls % this.exploreEvery === 0 ? !best : best;
    }
    if (useShared) this.shared++;
    else this.alone++;
    return useShared;
  }
  /** The time (ms) a product of this shape took, shared or alone. */
  record(shape: string, shared: boolean, ms: number): void {
    const st = this.byShape.get(shape);
    if (!st) return;
    const key = shared ? 'shared' : 'alone';
    const v = st[key];
    st[key] = v === null ? ms : v + this.weight * (ms - v);
  }
  /** The running averages for a shape (tests, reports). */
  averages(shape: string): { shared: number | null; alone: number | null } | undefined {
    const st = this.byShape.get(shape);
    return st && { shared: st.shared, alone: st.alone };
  }
}

/** How the helpers did: products shared with them and products run alone because they did not pay. */
export function gemmHelperStats(): { shared: number; alone: number } {
  const g = active ? governorOf.get(active) : undefined;
  return { shared: g?.shared ?? 0, alone: g?.alone ?? 0 };
}

const governorOf = new WeakMap<Pool, HelperGovernor>();

function sharedRunner(pool: Pool): GemmTaskRunner {
  const hit = runnerOf.get(pool);
  if (hit) return hit;
  const ctrl = new Int32Array(pool.control);
  const u = new Uint32Array(pool.control);
  const governor = new HelperGovernor();
  governorOf.set(pool, governor);
  // Atomics.wait is refused on a page's main thread; there the caller spins (products last milliseconds).
  let canWait = typeof (globalThis as { document?: unknown }).document === 'undefined';
  let gen = 0;
  const run: GemmTaskRunner = (x, job, relaxed) => {
    const total = gemmTaskCount(job);
    if (total < 2 || total > MAX_TASKS) {
      for (let t = 0; t < total; t++) runGemmTask(x, job, t);
      return;
    }
    const shape = `${job.batch}:${job.m}:${job.k}:${job.n}:${Number(job.transposeA)}${Number(job.transposeB)}`;
    const shared = governed ? governor.share(shape) : true;
    const t0 = performance.now();
    if (!shared) {
      for (let t = 0; t < total; t++) runGemmTask(x, job, t);
      governor.record(shape, false, performance.now() - t0);
      return;
    }
    writeJob(u, job, relaxed);
    Atomics.store(ctrl, NTASKS, total);
    Atomics.store(ctrl, DONE, 0);
    gen = (gen + 1) & 0x7fff;
    Atomics.store(ctrl, SLOT, gen << 16);
    Atomics.add(ctrl, WAKE, 1);
    Atomics.notify(ctrl, WAKE);
    claimAndRun(ctrl, gen, total, x, job);
    for (let d = Atomics.load(ctrl, DONE); d < total; d = Atomics.load(ctrl, DONE)) {
      if (!canWait) continue;
      try {
        Atomics.wait(ctrl, DONE, d, 2);
      } catch {
        canWait = false;
      }
    }
    governor.record(shape, true, performance.now() - t0);
  };
  runnerOf.set(pool, run);
  return run;
}
