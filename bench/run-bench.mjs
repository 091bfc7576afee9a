#!/usr/bin/env node
// `npm run bench [-- --quick] [--no-build] [--budget S] [--backends a,b] [--presets a,b] [--steps N] [--f16 | --no-f16]`
// Builds the app, serves it with vite preview on a free localhost port, opens the selftest harness in the
// system Chromium (WebGPU via SwiftShader where there is no GPU) and measures, per backend and preset, the
// VoCo training step at B=2, sw=2, n=3, r=32, next to the same backend's matmul throughput; plus the crop
// sampler, loading the sample CT, the auto probe, and the PyTorch twin (bench/torch_twin.py) for the ratio.
// Writes bench/out/bench.json and bench/out/bench.md. Asserts nothing about time.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';
import { CHROMIUM_ARGS, ensureChromium } from '../scripts/chromium.mjs';
import { benchSwin, swinMarkdown } from './swin-bench.mjs';
import { buildSelftestHarness, serveSelftestHarness } from './harness.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'bench', 'out');
const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
};
const quick = flag('quick');
const ALL_BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'];
const backends = option('backends', quick ? 'cpu,wasm,webgpu' : ALL_BACKENDS.join(',')).split(',');
const presetsArg = option('presets', null);
// --quick: 60 s per combination, so that a loaded CI machine still times its one training row (the first step runs
// under tf.profile for the memory table and is several times slower than the rest).
const budgetS = Number(option('budget', quick ? 60 : 90));
const timedSteps = Number(option('steps', quick ? 2 : 5));
// --quick (CI, about a minute): the training step only where it takes about a second (wasm, default preset); the
// others' steps take tens of seconds on this machine (cpu; WebGPU on a software adapter) and are listed as not timed.
const QUICK_TRAIN_BACKENDS = ['wasm'];
// --profile: one extra step of the default preset under tf.profile per backend (kernel and matmul-shape times);
// --profile-all: every preset.
const profileAll = flag('profile-all');
const profileDefault = profileAll || flag('profile');
const shape = { batchVolumes: 2, randomCrops: 2, gridN: 3, cropSize: 32 };
const log = (...a) => console.log('[bench]', ...a);

function torchTwin(presets, threads) {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return { error: `${py} not found` };
  const probe = spawnSync(py, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return { error: `${py} cannot import torch` };
  const args = [join(root, 'bench', 'torch_twin.py'), '--json', '--steps', String(quick ? 2 : 5), '--warmup', '1'];
  // --quick: a thread count whose warm-up step takes over 2 s (a thread pool on a busy machine) times one step only.
  if (quick) args.push('--max-step-s', '2');
  for (const p of presets) args.push('--preset', p);
  args.push('--threads', String(threads));
  // One thread: keep OpenBLAS/OpenMP from starting a pool of their own beside it.
  const env = threads === 1 ? { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' } : process.env;
  const r = spawnSync(py, args, { encoding: 'utf8', timeout: 20 * 60_000, env });
  if (r.status !== 0) return { error: `torch_twin.py failed (${r.status}): ${(r.stderr || '').trim().split('\n').slice(-3).join(' | ')}` };
  return JSON.parse(r.stdout);
}

/** The largest kernels and matmul shapes of a profiled step (tf.profile; kernel times include their sync). */
function logProfile(r) {
  const p = r.profile;
  log(`profile ${r.backend} ${r.preset}: ${fmt(p.wallMs, 0)} ms wall, ${fmt(p.totalKernelMs, 0)} ms in kernels`);
  for (const k of p.kernels.slice(0, 14)) log(`  ${k.name.padEnd(22)} ${String(k.count).padStart(5)}× ${fmt(k.ms, 1).padStart(8)} ms`);
  for (const m of p.matmuls.slice(0, 14)) log(`  ${m.shapes.padEnd(60)} ${String(m.count).padStart(4)}× ${fmt(m.ms, 1).padStart(7)} ms ${fmt(m.gflops, 1).padStart(6)} GFLOP/s`);
}

/** An error's message without the page's stack trace (Playwright appends it). */
const firstLine = (e) => String(e?.message ?? e).replace(/^page\.evaluate: (Error: )?/, '').split('\n')[0];
const fmt = (v, d = 1) => (v == null || !Number.isFinite(v) ? 'n/a' : v.toFixed(d));

async function main() {
  mkdirSync(outDir, { recursive: true });
  const dist = join(outDir, 'dist');
  await buildSelftestHarness(root, dist, { reuse: flag('no-build'), log });
  const { base, stop: stopPreview } = await serveSelftestHarness(root, dist);
  const browser = await chromium.launch({ executablePath: ensureChromium(), args: CHROMIUM_ARGS });
  const report = {
    when: new Date().toISOString(),
    quick,
    machine: { cpu: cpus()[0]?.model, cores: cpus().length, loadavgStart: loadavg() },
    browser: browser.version(),
    shape,
    budgetS,
    backends: {},
    training: [],
  };
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => log('page error:', e.message));
    await page.goto(`${base}/selftest.html`);
    await page.waitForFunction(() => window.selftestReady === true, null, { timeout: 60_000 });
    const call = (fn, ...args) => page.evaluate(([f, a]) => window.selftest.bench[f](...a), [fn, args]);

    const { names: known, defaultPreset } = await call('presetNames');
    report.defaultPreset = defaultPreset;
    // --quick: the default preset only (the one the ratio to PyTorch is about), timed on wasm only.
    const presets = presetsArg ? presetsArg.split(',') : quick ? [defaultPreset] : known;
    const unknown = presets.filter((p) => !known.includes(p));
    if (unknown.length) throw new Error(`unknown preset(s) ${unknown.join(', ')}; src/model has ${known.join(', ')}`);
    report.presets = presets;

    log('loading + preprocessing the sample CT …');
    try {
      report.sampleCt = await call('loadSample');
    } catch (e) {
      report.sampleCt = { error: firstLine(e) };
    }

    log('auto probe …');
    {
      const h = await call('open');
      try {
        const info = await call('init', h, 'auto', { useStore: false });
        report.auto = { chosen: info.name, reason: info.reason, measurements: info.measurements, wasmThreads: info.wasmThreads };
      } catch (e) {
        report.auto = { error: firstLine(e) };
      } finally {
        await call('close', h);
      }
    }
    log(`auto chose ${report.auto.chosen}: ${report.auto.reason ?? report.auto.error}`);

    for (const backend of backends) {
      log(`— ${backend} —`);
      const h = await call('open');
      const entry = { info: null, matmul: [], crop: null };
      report.backends[backend] = entry;
      try {
        entry.info = await call('init', h, backend);
        // Matmul sweep, largest last; a size predicted to take > 12 s is skipped (SwiftShader at 1024²).
        let rate = null;
        for (const size of quick ? [256, 512] : [256, 512, 1024]) {
          const predictedS = rate ? (2 * size ** 3 * 9) / (rate * 1e9) : 0;
          if (predictedS > 12) {
            entry.matmul.push({ size, skipped: `predicted ${predictedS.toFixed(0)} s at ${rate.toFixed(2)} GFLOP/s` });
            continue;
          }
          const [m] = await call('matmul', h, [size], quick ? 300 : 800);
          entry.matmul.push(m);
          rate = m.gflops;
        }
        // Reference for "% of matmul": the best size's MEDIAN round (sustained), not its single best round (a
        // peak that a busy machine reaches only now and then); the peak is reported beside it.
        const measured = entry.matmul.filter((m) => m.gflops);
        entry.bestMatmulGflops = Math.max(...measured.map((m) => m.medianGflops));
        entry.peakMatmulGflops = Math.max(...measured.map((m) => m.gflops));
        log(`matmul (median/peak): ${entry.matmul.map((m) => `${m.size}² ${m.gflops ? `${fmt(m.medianGflops)}/${fmt(m.gflops)} GFLOP/s` : m.skipped}`).join(', ')}`);
        try {
          entry.bandwidth = await call('bandwidth', h, quick ? 2 ** 20 : 4 * 2 ** 20, quick ? 300 : 600);
          log(`copy probe (y = −x): ${fmt(entry.bandwidth.medianGbPerSec, 2)} GB/s median, ${fmt(entry.bandwidth.peakGbPerSec, 2)} peak`);
        } catch (e) {
          entry.bandwidth = { error: firstLine(e) };
        }
        try {
          entry.crop = await call('crop', h);
          log(`crop sampler: ${fmt(entry.crop.gbPerSec, 3)} GB/s (${fmt(entry.crop.msPerCall, 2)} ms per ${entry.crop.crops} crops)`);
        } catch (e) {
          entry.crop = { error: firstLine(e) };
        }
        entry.volumes = await call('volumes', h, shape.batchVolumes);
        for (const preset of presets) {
          // A real GPU adapter is timed in --quick as well; cpu and software adapters are not.
          if (quick && !QUICK_TRAIN_BACKENDS.includes(backend) && (backend === 'cpu' || entry.info?.software !== false)) {
            report.training.push({ preset, backend, status: 'not timed', note: `not timed in --quick (${backend === 'cpu' ? 'cpu' : 'software adapter'}: tens of seconds per step here; \`npm run bench\` times it)` });
            continue;
          }
          const req = {
            preset,
            steps: timedSteps,
            warmup: 1,
            budgetMs: budgetS * 1000,
            matmulGflops: entry.peakMatmulGflops,
            profile: profileAll || (profileDefault && preset === report.defaultPreset),
            ...shape,
          };
          let r;
          try {
            r = await call('train', h, req);
          } catch (e) {
            r = { preset, backend, status: 'error', note: firstLine(e), stepMs: [], warmupMs: [] };
          }
          r.backend = backend;
          if (r.medianMs && r.status === 'ok') {
            r.gflops = r.flopsPerStep / (r.medianMs * 1e6);
            r.pctOfMatmul = (100 * r.gflops) / entry.bestMatmulGflops;
            r.cropsPerS = r.crops / (r.medianMs / 1000);
          }
          report.training.push(r);
          if (r.profile) logProfile(r);
          log(
            `${preset}: ${r.status === 'ok' ? `${fmt(r.medianMs, 0)} ms/step, ${fmt(r.gflops, 2)} GFLOP/s = ${fmt(r.pctOfMatmul, 0)} % of matmul` : r.note}`,
          );
        }
      } catch (e) {
        entry.error = firstLine(e);
        log(`${backend} failed: ${entry.error}`);
      } finally {
        await call('close', h);
      }
    }
    // A/B, interleaved in one trainer (the load of a busy machine falls on every configuration alike): the default
    // preset on wasm with each of this round's kernels switched off in turn, and relaxed SIMD on/off.
    if (backends.includes('wasm') && !quick && !flag('no-ab')) {
      log(`wasm A/B of kernel switches (${defaultPreset}, interleaved) …`);
      const h = await call('open');
      try {
        await call('init', h, 'wasm');
        await call('volumes', h, shape.batchVolumes);
        const on = { simd: true, gemm: 'all', gemmHelpers: true, gemmBatched: false, gemmPack: true, gemmGovernor: true, relaxed: null, fusedAdamW: true, fusedLayerNorm: true, fusedGelu: true, fusedBias: true, fusedSoftmax: true, splitCopy: true, sharedIdentity: true };
        const configs = [
          { name: 'all on (relaxed SIMD where available)', switches: on },
          { name: 'relaxed SIMD off', switches: { ...on, relaxed: false } },
          { name: 'SIMD matmul off (stock loop)', switches: { ...on, simd: false } },
          { name: 'SIMD GEMM off (XNNPACK for single products)', switches: { ...on, gemm: 'off' } },
          { name: 'SIMD GEMM for weight gradients only', switches: { ...on, gemm: 'weightGrads' } },
          { name: 'SIMD GEMM on one thread (no helpers)', switches: { ...on, gemmHelpers: false } },
          { name: 'SIMD GEMM helpers on every product (no governor)', switches: { ...on, gemmGovernor: false } },
          { name: 'SIMD GEMM reading B as stored (no panel packing)', switches: { ...on, gemmPack: false } },
          { name: "attention batches on the GEMM's threads, not the one-thread SIMD batch kernel", switches: { ...on, gemmBatched: true } },
          { name: 'fused AdamW + grad norm off (tf ops)', switches: { ...on, fusedAdamW: false } },
          { name: 'fused LayerNorm off (tf ops)', switches: { ...on, fusedLayerNorm: false } },
          { name: 'fused GELU off (tf ops)', switches: { ...on, fusedGelu: false } },
          { name: 'bias add outside the matmul', switches: { ...on, fusedBias: false } },
          { name: 'fused softmax off (tf ops)', switches: { ...on, fusedSoftmax: false } },
          { name: 'SplitV block copy off (tfjs slices)', switches: { ...on, splitCopy: false } },
          { name: 'Identity copies (tfjs) instead of sharing', switches: { ...on, sharedIdentity: false } },
          { name: 'this round off (LayerNorm, GELU, softmax, bias, split, identity)', switches: { ...on, fusedLayerNorm: false, fusedGelu: false, fusedBias: false, fusedSoftmax: false, splitCopy: false, sharedIdentity: false } },
          { name: 'all off (round-1 kernels)', switches: { simd: false, gemm: 'off', gemmHelpers: true, gemmBatched: false, relaxed: null, fusedAdamW: false, fusedLayerNorm: false, fusedGelu: false, fusedBias: false, fusedSoftmax: false, splitCopy: false, sharedIdentity: false } },
        ];
        // --ab-only a,b: only the configurations whose names contain one of these (the first, all on, always runs).
        const only = option('ab-only', null)?.split(',');
        if (only) configs.splice(1, configs.length, ...configs.slice(1).filter((c) => only.some((w) => c.name.includes(w))));
        report.ab = { preset: defaultPreset, rounds: Number(option('ab-rounds', 3)), loadavgBefore: loadavg(), results: null };
        report.ab.results = await call('ab', h, { preset: defaultPreset, warmup: 1, rounds: report.ab.rounds, configs, ...shape });
        report.ab.loadavgAfter = loadavg();
        for (const r of report.ab.results) log(`  ${r.name.padEnd(48)} median ${fmt(r.medianMs, 0)} ms, fastest ${fmt(Math.min(...r.stepMs), 0)} ms (${r.stepMs.map((x) => fmt(x, 0)).join(', ')}); relaxed ${r.flavour.relaxed}, GEMM threads ${r.flavour.gemmThreads} (products shared ${r.flavour.gemmHelpers?.shared ?? 0}, alone ${r.flavour.gemmHelpers?.alone ?? 0})`);
      } catch (e) {
        report.ab = { error: firstLine(e) };
        log(`A/B failed: ${report.ab.error}`);
      } finally {
        await call('close', h);
      }
    }

    // --profile-ab [N]: per-kernel profiles of the default preset's step on wasm with the SIMD GEMM on and off
    // (XNNPACK), N interleaved rounds (default 3), the fastest round per kernel and shape.
    if (backends.includes('wasm') && flag('profile-ab')) {
      log(`wasm per-kernel profile, SIMD GEMM on vs off (${defaultPreset}, interleaved) …`);
      const h = await call('open');
      try {
        await call('init', h, 'wasm');
        await call('volumes', h, shape.batchVolumes);
        const on = { simd: true, gemm: 'all', gemmHelpers: true, gemmBatched: false, gemmPack: true };
        const configs = [
          { name: 'SIMD GEMM (all on)', switches: on },
          { name: 'XNNPACK (SIMD GEMM off)', switches: { ...on, gemm: 'off' } },
        ];
        const rounds = Number(argv[argv.indexOf('--profile-ab') + 1]) || 3;
        report.profileAb = { preset: defaultPreset, rounds, loadavgBefore: loadavg(), results: await call('profileAb', h, { preset: defaultPreset, rounds, configs, ...shape }) };
        report.profileAb.loadavgAfter = loadavg();
        const [a, b] = report.profileAb.results;
        log(`  wall (fastest profiled step): ${a.name} ${fmt(a.profile.wallMs, 0)} ms, ${b.name} ${fmt(b.profile.wallMs, 0)} ms`);
      } catch (e) {
        report.profileAb = { error: firstLine(e) };
        log(`profile A/B failed: ${report.profileAb.error}`);
      } finally {
        await call('close', h);
      }
    }

    // A/B: the default preset on wasm with tfjs's stock kernels, i.e. without src/kernels' matmul fast paths.
    if (backends.includes('wasm') && !quick && !flag('no-stock')) {
      log(`wasm with stock tfjs kernels (${defaultPreset}) …`);
      const h = await call('open');
      try {
        await call('init', h, 'wasm', { stockKernels: true });
        await call('volumes', h, shape.batchVolumes);
        const ref = report.backends.wasm;
        // Stock steps are several times slower: two timed steps, twice the budget.
        const r = await call('train', h, { preset: defaultPreset, steps: 2, warmup: 1, budgetMs: 2 * budgetS * 1000, ...shape });
        r.backend = 'wasm, stock tfjs kernels';
        if (r.medianMs && r.status === 'ok' && ref?.bestMatmulGflops) {
          r.gflops = r.flopsPerStep / (r.medianMs * 1e6);
          r.pctOfMatmul = (100 * r.gflops) / ref.bestMatmulGflops;
          r.cropsPerS = r.crops / (r.medianMs / 1000);
        }
        report.training.push(r);
        log(`stock kernels: ${r.status === 'ok' ? `${fmt(r.medianMs, 0)} ms/step` : r.note}`);
      } catch (e) {
        log(`stock-kernel run failed: ${e.message ?? e}`);
      } finally {
        await call('close', h);
      }
    }

    // The default preset on wasm with ONE thread: the twin is timed with all cores and with one (the faster is its
    // reference), since on a busy machine a thread pool waits for descheduled threads; the same choice for wasm.
    if (backends.includes('wasm') && !quick && !flag('no-threads1') && (report.backends.wasm?.info?.wasmThreads ?? 1) > 1) {
      log(`wasm with 1 thread (${defaultPreset}) …`);
      const h = await call('open');
      try {
        await call('init', h, 'wasm', { wasmThreads: 1 });
        await call('volumes', h, shape.batchVolumes);
        const ref = report.backends.wasm;
        const r = await call('train', h, { preset: defaultPreset, steps: timedSteps, warmup: 1, budgetMs: budgetS * 1000, ...shape });
        r.backend = 'wasm, 1 thread';
        if (r.medianMs && r.status === 'ok' && ref?.bestMatmulGflops) {
          r.gflops = r.flopsPerStep / (r.medianMs * 1e6);
          r.pctOfMatmul = (100 * r.gflops) / ref.bestMatmulGflops;
          r.cropsPerS = r.crops / (r.medianMs / 1000);
          r.note = `${r.note ? r.note + '; ' : ''}% of the ${ref.info?.wasmThreads}-thread matmul rate`;
        }
        delete r.memory;
        report.training.push(r);
        log(`1 thread: ${r.status === 'ok' ? `${fmt(r.medianMs, 0)} ms/step` : r.note}`);
      } catch (e) {
        log(`1-thread run failed: ${firstLine(e)}`);
      } finally {
        await call('close', h);
      }
    }

    // A similarity map (src/eval) on the backend auto picked, default preset, untrained weights.
    if (report.auto?.chosen && !flag('no-map') && !quick) {
      log(`similarity map (${report.auto.chosen}, ${defaultPreset}) …`);
      const h = await call('open');
      try {
        await call('init', h, report.auto.chosen);
        await call('volumes', h, shape.batchVolumes);
        report.similarityMap = await call('similarityMap', h, defaultPreset, shape.cropSize);
        log(`similarity map: ${report.similarityMap.windows} windows in ${fmt(report.similarityMap.ms, 0)} ms`);
      } catch (e) {
        report.similarityMap = { status: 'error', note: firstLine(e) };
      } finally {
        await call('close', h);
      }
    } else report.similarityMap = { status: 'n/a', note: quick ? 'not run with --quick' : flag('no-map') ? '--no-map' : 'no backend chosen' };

    // Half-precision storage for WebGPU matmul operands (src/kernels/matMulPackedHalf.ts) against float32, on this
    // page's WebGPU adapter: full bench, or --f16 (never in --quick unless asked: it adds ~30 s on SwiftShader).
    if (backends.includes('webgpu') && (flag('f16') || (!quick && !flag('no-f16')))) {
      log('half-precision storage (f16) vs f32 matmul on webgpu …');
      try {
        report.f16 = await page.evaluate((sizes) => window.selftest.halfPrecision.bench(sizes), quick ? [256, 512] : [128, 256, 512]);
        report.f16.loadavg = loadavg();
        for (const x of report.f16.rows) log(`  ${x.shape} ${x.variant.padEnd(24)} ${fmt(x.ms, 2)} ms, ${fmt(x.gflops, 2)} GFLOP/s, ${fmt(x.gbPerSec, 2)} GB/s`);
      } catch (e) {
        report.f16 = { error: firstLine(e) };
        log(`f16 section failed: ${report.f16.error}`);
      }
    }
    if (!flag('no-conv3d')) report.conv3d = await benchConv3dShapes(page, backends);
    // The reference encoder (bench/swin-bench.mjs): minutes on a CPU, so only in the full bench or with --swin.
    if (flag('swin') || (!quick && !flag('no-swin'))) {
      log('reference encoder (swin-bench) …');
      const reopen = async () => {
        const p = await browser.newPage();
        await p.goto(`${base}/selftest.html`);
        await p.waitForFunction(() => window.selftestReady === true, null, { timeout: 60_000 });
        return p;
      };
      report.swin = await benchSwin(page, {
        reopen,
        backends: option('swin-backends', backends.filter((b) => b === 'wasm' || b === 'webgpu').join(',')).split(',').filter(Boolean),
        presets: option('swin-presets', 'swin-tiny,VoCo-B').split(','),
        budgetS: Number(option('swin-budget', 120)),
        torch: !flag('no-torch'),
        torchThreads: option('swin-torch-threads', '1').split(',').map(Number),
        log: (...a) => log('[swin]', ...a),
      }).catch((e) => {
        log(`reference encoder section failed: ${firstLine(e)}`);
        return null;
      });
    }
  } finally {
    await browser.close();
    stopPreview();
  }

  if (!flag('no-torch')) {
    // All cores (what the brief of the twin says) and one thread: on a busy 2-core machine OpenMP's parallel
    // regions wait for descheduled threads and one thread can be several times faster. The faster is the reference.
    const runs = [];
    for (const threads of [...new Set([cpus().length, 1])]) {
      log(`PyTorch twin, ${threads} thread(s) …`);
      runs.push({ threads, ...torchTwin(report.presets, threads) });
    }
    const ok = runs.filter((x) => !x.error);
    report.torch = ok.length ? { ...ok[0], runs, results: [] } : { error: runs.map((x) => x.error).join('; '), runs };
    for (const p of report.presets) {
      const best = ok.flatMap((x) => x.results.filter((t) => t.preset === p)).sort((a, b) => a.medianMs - b.medianMs)[0];
      if (best) report.torch.results.push(best);
    }
  }
  report.machine.loadavgEnd = loadavg();
  writeFileSync(join(outDir, 'bench.json'), JSON.stringify(report, null, 2));
  const md = markdown(report) + profileAbMarkdown(report.profileAb) + f16Markdown(report.f16) + conv3dMarkdown(report.conv3d) + swinMarkdown(report.swin);
  writeFileSync(join(outDir, 'bench.md'), md);
  console.log('\n' + md);
  log(`wrote ${join('bench', 'out', 'bench.json')} and bench.md`);
}

function markdown(r) {
  const torchBy = new Map((r.torch?.results ?? []).map((t) => [t.preset, t]));
  const lines = [];
  lines.push(`# VoCo Studio benchmark (${r.quick ? 'quick' : 'full'}) — ${r.when}`);
  lines.push('');
  lines.push(
    `Machine: ${r.machine.cpu}, ${r.machine.cores} cores, load average ${r.machine.loadavgStart.map((x) => x.toFixed(1)).join('/')} at start, ` +
      `${r.machine.loadavgEnd.map((x) => x.toFixed(1)).join('/')} at end. Chromium ${r.browser}. ` +
      `Step: B=${r.shape.batchVolumes} volumes, sw=${r.shape.randomCrops}, n=${r.shape.gridN}, r=${r.shape.cropSize} → ${r.shape.batchVolumes * (r.shape.gridN ** 2 + r.shape.randomCrops)} crops.`,
  );
  lines.push('');
  lines.push(`Auto probe chose **${r.auto?.chosen ?? 'n/a'}** — ${r.auto?.reason ?? r.auto?.error}.`);
  const wasm = r.backends.wasm?.info;
  lines.push(`wasm threads: ${wasm?.wasmThreads ?? 'n/a'}.`);
  const s = r.sampleCt;
  lines.push(
    s?.error
      ? `Sample CT: ${s.error}`
      : `Sample CT load + preprocess: ${fmt(s.totalMs, 0)} ms (fetch ${fmt(s.fetchMs, 0)}, read ${fmt(s.readMs, 0)}, preprocess ${fmt(s.preprocessMs, 0)}); ${s.sourceDims.join('×')} → ${s.dims.join('×')}.`,
  );
  const sm = r.similarityMap;
  lines.push(
    sm?.status === 'ok'
      ? `Similarity map (${sm.backend}, preset ${sm.preset}, stride ${sm.stride}, batch ${sm.batch}): ${sm.windows} windows in ${fmt(sm.ms, 0)} ms (${fmt(sm.windowsPerS, 1)} windows/s).`
      : `Similarity map: ${sm?.status ?? 'n/a'}${sm?.note ? ` (${sm.note})` : ''}.`,
  );
  lines.push('');
  lines.push('| backend | matmul GFLOP/s, median (peak) at 256² / 512² / 1024² | crop sampler GB/s | replaced kernels |');
  lines.push('|---|---|---|---|');
  for (const [name, b] of Object.entries(r.backends)) {
    const g = (v) => fmt(v, v < 10 ? 2 : 1);
    const mm = b.matmul.map((m) => (m.gflops ? `${g(m.medianGflops)} (${g(m.gflops)})` : 'skipped')).join(' / ');
    lines.push(
      `| ${name}${b.info?.software ? ' (software)' : ''} | ${b.error ? b.error : mm} | ${b.crop?.gbPerSec != null ? fmt(b.crop.gbPerSec, 3) : (b.crop?.error ?? 'n/a')} | ${(b.info?.kernels ?? []).join('; ') || '—'} |`,
    );
  }
  lines.push('');
  lines.push('Roofline per device: the ceilings are this run\'s pure probes on that backend (best median matmul GFLOP/s over the sizes; copy GB/s of y = −x over 16 MiB, read + write); achieved = the default preset\'s step (matmul FLOPs only) and the crop sampler (bytes written).');
  lines.push('');
  lines.push('| backend | adapter | matmul peak GFLOP/s | copy peak GB/s | ridge FLOP/byte | step GFLOP/s (% of peak) | crop sampler GB/s (% of copy) |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const [name, b] of Object.entries(r.backends)) {
    const step = r.training.find((t) => t.backend === name && t.preset === (r.presets.includes(r.defaultPreset) ? r.defaultPreset : r.presets[0]) && t.status === 'ok');
    const bw = b.bandwidth?.medianGbPerSec;
    const peak = b.bestMatmulGflops;
    lines.push(
      `| ${name} | ${b.info?.adapter ?? (name === 'wasm' ? `${b.info?.wasmThreads ?? '?'} threads` : '—')}${b.info?.software ? ' (software)' : ''} | ${fmt(peak, 1)} | ${fmt(bw, 2)} | ${peak && bw ? fmt(peak / bw, 1) : 'n/a'} | ` +
        `${step ? `${fmt(step.gflops, 2)} (${fmt(step.pctOfMatmul, 0)} %)` : 'n/a'} | ${b.crop?.gbPerSec != null && bw ? `${fmt(b.crop.gbPerSec, 3)} (${fmt((100 * b.crop.gbPerSec) / bw, 0)} %)` : 'n/a'} |`,
    );
  }
  lines.push('');
  lines.push('"% of matmul": the step\'s matmul GFLOP/s over the same backend\'s best median matmul GFLOP/s in this run.');
  lines.push('');
  lines.push('| backend | preset | ms/step (median) | crops/s | GFLOP/step | GFLOP/s | % of matmul | PyTorch ms/step | studio ÷ PyTorch | note |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const t of r.training) {
    const pt = torchBy.get(t.preset);
    const ok = t.status === 'ok' && t.medianMs;
    lines.push(
      `| ${t.backend} | ${t.preset} | ${ok ? fmt(t.medianMs, 0) : '—'} | ${ok ? fmt(t.cropsPerS, 1) : '—'} | ${t.flopsPerStep ? fmt(t.flopsPerStep / 1e9, 2) : '—'} | ` +
        `${ok ? fmt(t.gflops, 2) : '—'} | ${ok ? fmt(t.pctOfMatmul, 0) + ' %' : '—'} | ${pt ? fmt(pt.medianMs, 0) : 'n/a'} | ` +
        `${ok && pt ? fmt(t.medianMs / pt.medianMs, 2) + '×' : 'n/a'} | ${t.note ?? (t.stepMs?.length ? `n=${t.stepMs.length}, fastest ${fmt(Math.min(...t.stepMs), 0)} ms, first ${fmt(t.warmupMs?.[0], 0)} ms` : '')} |`,
    );
  }
  const withMem = r.training.filter((t) => t.memory);
  if (withMem.length) {
    const mib = (b) => (b == null ? 'n/a' : fmt(b / 2 ** 20, 0));
    lines.push('');
    lines.push('Memory per step, measured vs the run setup\'s estimate (src/store/runConfig.ts estimateStepMemory): peak tensor bytes from tf.profile over the first step; the wasm heap is the WebAssembly.Memory size after the steps (it only grows); webgpu: GPU buffers tfjs holds (tf.memory().numBytesInGPUAllocated).');
    lines.push('');
    lines.push('| backend | preset | peak tensors MiB | estimate MiB | estimate ÷ measured | resident MiB | wasm heap MiB | heap estimate MiB | GPU buffers MiB |');
    lines.push('|---|---|---|---|---|---|---|---|---|');
    for (const t of withMem) {
      const m = t.memory;
      lines.push(
        `| ${t.backend} | ${t.preset} | ${mib(m.peakTensorBytes)} | ${mib(m.estimateBytes)} | ${fmt(m.estimateBytes / m.peakTensorBytes, 2)} | ${mib(m.residentBytes)} | ` +
          `${mib(m.wasmHeapBytes)} | ${t.backend === 'wasm' ? mib(m.estimateWasmHeapBytes) : '—'} | ${mib(m.gpuAllocatedBytes)} |`,
      );
    }
  }
  // The ratio line: the studio's default preset when it was run, else the first preset run.
  const def = r.presets.includes(r.defaultPreset) ? r.defaultPreset : r.presets[0];
  const ptDef = torchBy.get(def);
  if (ptDef) {
    const ratios = r.training
      .filter((t) => t.preset === def)
      .map((t) => `${t.backend} ${t.status === 'ok' && t.medianMs ? fmt(t.medianMs / ptDef.medianMs, 2) + '×' : 'n/a (' + (t.note ?? t.status) + ')'}`);
    lines.push(`\nStudio ÷ PyTorch, preset ${def}${def === r.defaultPreset ? ' (the default)' : ''} (PyTorch ${fmt(ptDef.medianMs, 0)} ms/step): ${ratios.join('; ')}.`);
  }
  if (r.ab?.results) {
    const base = r.ab.results[0].medianMs;
    lines.push('');
    lines.push(
      `wasm A/B of this round's kernels, preset ${r.ab.preset}, ${r.ab.rounds} interleaved rounds in one trainer ` +
        `(load ${r.ab.loadavgBefore.map((x) => x.toFixed(1)).join('/')} → ${r.ab.loadavgAfter.map((x) => x.toFixed(1)).join('/')}):`,
    );
    lines.push('');
    // The fastest step is the one the machine's load disturbed least: on a busy machine it is the steadier comparison.
    const fastest = (x) => Math.min(...x.stepMs);
    const baseFast = fastest(r.ab.results[0]);
    lines.push('| configuration | median ms/step | vs all on | fastest ms/step | vs all on | steps (ms) | relaxed SIMD ran | GEMM threads (products shared / alone) |');
    lines.push('|---|---|---|---|---|---|---|---|');
    for (const x of r.ab.results) {
      lines.push(
        `| ${x.name} | ${fmt(x.medianMs, 0)} | ${fmt(x.medianMs / base, 2)}× | ${fmt(fastest(x), 0)} | ${fmt(fastest(x) / baseFast, 2)}× | ` +
          `${x.stepMs.map((v) => fmt(v, 0)).join(', ')} | ${x.flavour.relaxed} | ${x.flavour.gemmThreads ?? 1} (${x.flavour.gemmHelpers?.shared ?? 0} / ${x.flavour.gemmHelpers?.alone ?? 0}) |`,
      );
    }
  } else if (r.ab?.error) lines.push(`\nwasm A/B: ${r.ab.error}`);
  if (r.torch?.error) lines.push(`\nPyTorch twin: ${r.torch.error}`);
  else if (r.torch) {
    const per = (r.torch.runs ?? [])
      .filter((x) => !x.error)
      .map((x) => `${x.threads} thread(s): 1024² matmul ${fmt(x.matmul1024Gflops)} GFLOP/s, ms/step ${x.results.map((t) => `${t.preset} ${fmt(t.medianMs, 0)}`).join(', ')}`);
    lines.push(
      `\nPyTorch twin: torch ${r.torch.results?.[0]?.torch} on ${r.torch.results?.[0]?.device}, BLAS ${r.torch.blas ?? '?'}; ${per.join(' | ')}. ` +
        'The table uses the faster thread count per preset.',
    );
  }
  return lines.join('\n') + '\n';
}

main().catch((e) => {
  console.error('[bench] failed:', e);
  process.exit(1);
});

/** --profile-ab: per kernel name and per matmul shape, the SIMD GEMM's time beside XNNPACK's (fastest round each). */
function profileAbMarkdown(p) {
  if (!p) return '';
  if (p.error) return `\n## wasm per-kernel profile, SIMD GEMM on vs off\n\nfailed: ${p.error}\n`;
  const [a, b] = p.results;
  const lines = ['', `## wasm per-kernel profile, SIMD GEMM on vs off (preset ${p.preset}, ${p.rounds} interleaved profiled steps each, fastest round per row; load ${p.loadavgBefore.map((x) => x.toFixed(1)).join('/')} → ${p.loadavgAfter.map((x) => x.toFixed(1)).join('/')})`, '',
    `Fastest profiled step (wall, tf.profile syncs every kernel): ${a.name} ${fmt(a.profile.wallMs, 0)} ms, ${b.name} ${fmt(b.profile.wallMs, 0)} ms.`, '',
    `| kernel | calls | ${a.name} ms | ${b.name} ms | off ÷ on |`, '|---|---|---|---|---|'];
  const bk = new Map(b.profile.kernels.map((x) => [x.name, x]));
  for (const x of a.profile.kernels.slice(0, 16)) {
    const y = bk.get(x.name);
    lines.push(`| ${x.name} | ${x.count} | ${fmt(x.ms, 1)} | ${fmt(y?.ms, 1)} | ${y ? fmt(y.ms / x.ms, 2) + '×' : 'n/a'} |`);
  }
  lines.push('', `| matmul (stored shapes) | calls | ${a.name} ms | GFLOP/s | ${b.name} ms | GFLOP/s | off ÷ on |`, '|---|---|---|---|---|---|---|');
  const bm = new Map(b.profile.matmuls.map((x) => [x.shapes, x]));
  const keys = [...new Set([...a.profile.matmuls, ...b.profile.matmuls].sort((x, y) => y.ms - x.ms).map((x) => x.shapes))].slice(0, 24);
  const am = new Map(a.profile.matmuls.map((x) => [x.shapes, x]));
  for (const k of keys) {
    const x = am.get(k);
    const y = bm.get(k);
    lines.push(`| ${k} | ${x?.count ?? y?.count} | ${fmt(x?.ms, 1)} | ${fmt(x?.gflops, 1)} | ${fmt(y?.ms, 1)} | ${fmt(y?.gflops, 1)} | ${x && y ? fmt(y.ms / x.ms, 2) + '×' : 'n/a'} |`);
  }
  return lines.join('\n') + '\n';
}

// ---- half-precision storage (src/kernels/matMulPackedHalf.ts) ---------------------------------------------------------

/** The f16 section: one table per adapter, with its roofline line (this page's copy probe and best f32 rate). */
function f16Markdown(f) {
  if (!f) return '';
  if (f.error) return `\n## Half-precision storage (f16) on webgpu\n\nfailed: ${f.error}\n`;
  const a = f.adapter;
  const native = a.deviceFeatures.includes('shader-f16');
  // The adapter's measured f32 matmul peak: the best float32 program's row (plain or pairs).
  const bestF32 = Math.max(...f.rows.filter((x) => x.variant === 'f32 tiled' || x.variant === 'f32 pairs').map((x) => x.gflops));
  const byShape = new Map(f.rows.filter((x) => x.variant === 'f32 tiled').map((x) => [x.shape, x]));
  const lines = ['', `## Half-precision storage (f16) on webgpu — adapter ${a.text}`, '',
    `Load average ${f.loadavg.map((x) => x.toFixed(1)).join('/')} at the end. shader-f16: ${native ? 'yes (native f16 rows included)' : 'no (native f16 variant not run on this adapter)'}; ` +
    `subgroups: ${a.deviceFeatures.includes('subgroups') ? 'yes' : 'no'}. Operands are rounded to f16 and summed in f32 (max |Δ| vs the f32 program in the last column); ` +
    '"pre-cast": operands already stored as packed halves (the storage gain alone); "+ cast": what a run that opts in gets (both float32 operands cast every call). ' +
    'GB/s: the least traffic (A and B read once at the storage width, C written once in f32) per second.', '',
    `Roofline (this adapter): f32 matmul peak ${fmt(bestF32, 2)} GFLOP/s (best f32 row), copy ${fmt(f.copyGbPerSec, 2)} GB/s (y = −x, read + write) → ridge ${fmt(bestF32 / f.copyGbPerSec, 1)} FLOP/byte; ` +
    'a square n³ product at f32 storage has 2n³ / 12n² = n/6 FLOP/byte, at f16 storage n/4 (so every size here is compute-bound on this adapter when n/6 is above the ridge).', '',
    '| size | variant | ms | GFLOP/s | vs f32 tiled | % of f32 peak | GB/s | % of copy | max abs diff vs f32 |', '|---|---|---|---|---|---|---|---|---|'];
  for (const x of f.rows) {
    const ref = byShape.get(x.shape);
    lines.push(`| ${x.shape} | ${x.variant} | ${fmt(x.ms, 2)} | ${fmt(x.gflops, 2)} | ${ref ? fmt(x.gflops / ref.gflops, 2) + '×' : 'n/a'} | ${fmt((100 * x.gflops) / bestF32, 0)} % | ` +
      `${fmt(x.gbPerSec, 3)} | ${fmt((100 * x.gbPerSec) / f.copyGbPerSec, 1)} % | ${x.maxAbsDiffVsF32.toExponential(1)} |`);
  }
  if (f.gpuErrors.length) lines.push('', `GPU errors (the numbers above are INVALID): ${f.gpuErrors.join(' | ')}`);
  return lines.join('\n') + '\n';
}

// ---- conv3d kernels (src/kernels/conv3d.ts) at the VoCo-B encoder-block shapes -------------------------------------

/**
 * Forward and forward+backward ms of one 3×3×3 conv3d per VoCo-B (feature size 48) encoder-block shape, one crop,
 * per backend, through window.selftest.conv3d.benchConv3d (median of the timed rounds after a warm-up round).
 * --quick runs one shape on wasm only; --no-conv3d skips it.
 */
async function benchConv3dShapes(page, backendList) {
  const shapes = [[[64, 64, 64], 1, 48], [[32, 32, 32], 48, 48], [[16, 16, 16], 96, 96], [[8, 8, 8], 192, 192], [[2, 2, 2], 768, 768]];
  // --quick: one mid-size shape on wasm (the others take minutes on cpu and software adapters).
  const picked = quick ? [shapes[3]] : shapes;
  const results = [];
  for (const backend of quick ? backendList.filter((b) => b === 'wasm') : backendList) {
    for (const [dims, cin, cout] of picked) {
      try {
        const r = await page.evaluate(([b, d, i, o, n]) => window.selftest.conv3d.benchConv3d(b, 1, d, i, o, n), [backend, dims, cin, cout, quick ? 1 : 2]);
        r.gflopForward = (2 * dims[0] * dims[1] * dims[2] * 27 * cin * cout) / 1e9;
        results.push(r);
        log(`conv3d ${r.backend} ${r.shape}: forward ${fmt(r.forwardMs, 0)} ms, forward+backward ${fmt(r.forwardBackwardMs, 0)} ms`);
      } catch (e) {
        results.push({ backend, shape: `1×${dims.join('×')}×${cin}→${cout}`, error: firstLine(e) });
      }
    }
  }
  return { loadavg: loadavg(), results };
}

function conv3dMarkdown(c) {
  if (!c) return '';
  const lines = ['', '## conv3d (VoCo-B encoder-block shapes, one crop, 3×3×3, stride 1)', '',
    `Load average ${c.loadavg.map((x) => x.toFixed(1)).join('/')} at the end.`, '',
    '| backend | shape | GFLOP fwd | forward ms | forward+backward ms |', '|---|---|---|---|---|'];
  for (const r of c.results) {
    lines.push(r.error ? `| ${r.backend} | ${r.shape} | | error: ${r.error} | |`
      : `| ${r.backend} | ${r.shape} | ${fmt(r.gflopForward, 2)} | ${fmt(r.forwardMs, 0)} | ${fmt(r.forwardBackwardMs, 0)} |`);
  }
  return lines.join('\n') + '\n';
}
