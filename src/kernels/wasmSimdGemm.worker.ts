// A helper thread of the SIMD GEMM (wasmSimdGemmThreads.ts): instantiates the kernel on tfjs-wasm's shared memory,
// then sleeps until a product is published and claims its tasks beside the caller.
import { simdGemmFor, simdGemmModuleBytes, type GemmExports } from './wasmSimdGemm';
import { claimAndRun, NTASKS, QUIT, readJob, SLOT, WAKE } from './wasmSimdGemmThreads';

self.onmessage = (e: MessageEvent<{ memory: WebAssembly.Memory; control: SharedArrayBuffer; thread: number }>) => {
  const { memory, control, thread } = e.data;
  let kernels: [GemmExports, GemmExports | null];
  try {
    const relaxedOk = WebAssembly.validate(simdGemmModuleBytes(true, true));
    kernels = [simdGemmFor(memory, false), relaxedOk ? simdGemmFor(memory, true) : null];
  } catch (err) {
    self.postMessage({ error: String((err as Error)?.message ?? err) });
    return;
  }
  self.postMessage({ ready: true });
  const ctrl = new Int32Array(control);
  const u = new Uint32Array(control);
  let wake = Atomics.load(ctrl, WAKE);
  for (;;) {
    Atomics.wait(ctrl, WAKE, wake);
    wake = Atomics.load(ctrl, WAKE);
    if (Atomics.load(ctrl, QUIT)) return self.close();
    // Parameters are read after the generation; claimAndRun's compare-exchange rejects them if the product changed.
    const gen = Atomics.load(ctrl, SLOT) >>> 16;
    const total = Atomics.load(ctrl, NTASKS);
    const { job, relaxed } = readJob(u);
    const x = relaxed && kernels[1] ? kernels[1] : kernels[0];
    claimAndRun(ctrl, gen, total, x, job, thread);
  }
};
