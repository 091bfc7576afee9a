#!/usr/bin/env node
// The reference encoder (the authors' SwinViT v2 + UNETR, src/model/swin) in the benchmark: forward ms per r³ crop
// and the encoder's forward + backward per crop, per backend, in Chromium (window.selftest.swinBench, one worker per
// backend); one VoCo training step (the bench worker's Trainer step) where the budget allows; beside the PyTorch twin
// (bench/swin_torch.py, the authors' model from python/vocostudio on CPU). Prints what a similarity map costs
// (windows × ms per crop) and the sustained GFLOP/s at which maps and steps become usable.
//
// Runs as part of the full `npm run bench` (or with `--swin`), never in `--quick`; alone:
//   node bench/swin-bench.mjs [--no-build] [--backends wasm,webgpu] [--swin-presets swin-tiny,VoCo-B]
//                             [--swin-budget S] [--no-torch]
// Writes bench/out/swin-bench.json and swin-bench.md when run alone. Asserts nothing about time.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSelftestHarness, serveSelftestHarness } from './harness.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const fmt = (v, d = 1) => (v == null || !Number.isFinite(v) ? 'n/a' : v.toFixed(d));
const firstLine = (e) => String(e?.message ?? e).replace(/^page\.evaluate: (Error: )?/, '').split('\n')[0];

/** Crop edge of every measurement: the smallest the reference encoder takes (its deepest stage is r/32). */
export const SWIN_R = 64;
/** The smallest VoCo step the run setup accepts: B = 2 volumes × (n² = 4 bases + sw = 1 random crop) = 10 crops. */
export const SWIN_STEP = { batchVolumes: 2, gridN: 2, randomCrops: 1, cropSize: SWIN_R };
/**
 * "Usable" (for the GPU estimate): a similarity map of the sample CT at the default stride (r/4) within 10 s, and a
 * training step within 1 s — the pace at which the studio's maps and curves are interactive.
 */
const USABLE = { mapS: 10, stepS: 1 };

/**
 * Runs the Swin section on an open selftest page. opts: { backends, presets, budgetS, torch, log }.
 * Returns a plain object for bench.json; markdown(result) renders it.
 */
export async function benchSwin(page, opts) {
  const log = opts.log ?? ((...a) => console.log('[swin-bench]', ...a));
  const budgetMs = (opts.budgetS ?? 120) * 1000;
  const out = { r: SWIN_R, step: SWIN_STEP, loadavgStart: loadavg(), rows: [], steps: [], map: null, torch: null };
  // A pass that exhausts the renderer's memory crashes the page (VoCo-B's gradient on wasm did): the error is
  // recorded for that measure, a fresh page is opened (opts.reopen) and the rest goes on.
  let current = page;
  const call = async (mod, fn, ...args) => {
    try {
      return await current.evaluate(([m, f, a]) => window.selftest[m][f](...a), [mod, fn, args]);
    } catch (e) {
      if (/Target crashed|Target page, context or browser has been closed/.test(String(e?.message ?? e)) && opts.reopen) {
        log(`the page crashed during ${mod}.${fn}: opening a fresh one`);
        current = await opts.reopen();
        throw new Error(`the page crashed (out of memory?) during ${mod}.${fn}`);
      }
      throw e;
    }
  };
  const close = async (mod, h) => {
    try {
      await call(mod, 'close', h);
    } catch {
      /* the page that held it is gone */
    }
  };

  // The sample CT as the studio preprocesses it (3 mm): the similarity map's window counts.
  let dims = [122, 101, 112];
  try {
    const s = await call('bench', 'loadSample');
    dims = s.dims;
  } catch (e) {
    log(`sample CT failed (${firstLine(e)}); window counts use ${dims.join('×')}`);
  }
  const defaultStride = SWIN_R / 4;
  out.map = {
    dims,
    strides: {
      [defaultStride]: await call('swinBench', 'mapWindows', dims, SWIN_R, defaultStride),
      [SWIN_R / 2]: await call('swinBench', 'mapWindows', dims, SWIN_R, SWIN_R / 2),
      [SWIN_R]: await call('swinBench', 'mapWindows', dims, SWIN_R, SWIN_R),
    },
    tiles: await call('swinBench', 'mapWindows', dims, SWIN_R, SWIN_R, 'tiles'),
    defaultStride,
  };
  out.gflop = {};
  for (const p of opts.presets) out.gflop[p] = await call('swinBench', 'forwardGflop', p, SWIN_R);
  log(`map windows on the sample CT (${dims.join('×')}): ${Object.entries(out.map.strides).map(([s, n]) => `stride ${s}: ${n}`).join(', ')}, tiles of ${SWIN_R}³: ${out.map.tiles}`);

  for (const backend of opts.backends) {
    let h = null;
    try {
      h = await call('swinBench', 'open');
      const info = await call('swinBench', 'init', h, backend);
      for (const preset of opts.presets) {
        for (const pass of ['forward', 'gradient']) {
          // A crop of VoCo-B's gradient on a CPU backend takes minutes: predicted from the forward, skipped if over.
          const fwd = out.rows.find((x) => x.backend === backend && x.preset === preset && x.pass === 'forward');
          // A larger preset's forward, predicted from a smaller one's measured GFLOP/s on this backend.
          const ref = out.rows.find((x) => x.backend === backend && x.pass === 'forward' && !x.error && x.gflops);
          if (pass === 'forward' && ref && ref.preset !== preset) {
            const predictedMs = (1000 * (await call('swinBench', 'forwardGflop', preset, SWIN_R))) / ref.gflops;
            if (predictedMs > budgetMs) {
              out.rows.push({ backend, preset, pass, error: `skipped: over budget (≈ ${fmt(predictedMs / 1000, 0)} s predicted at ${ref.preset}'s ${fmt(ref.gflops, 2)} GFLOP/s; budget ${budgetMs / 1000} s)` });
              log(`${backend} ${preset} forward: skipped (predicted ${fmt(predictedMs / 1000, 0)} s)`);
              out.rows.push({ backend, preset, pass: 'gradient', error: 'skipped: the forward pass is over budget' });
              break;
            }
          }
          // The gradient pass keeps every activation of the forward and their gradients: on wasm about 4× the
          // forward's heap (fixture size, measured: 0.54 GiB forward, 2.2 GiB gradient). Over the 4 GiB heap the
          // renderer dies (VoCo-B did), so such a pass is skipped with the prediction.
          if (pass === 'gradient' && fwd?.wasmHeapBytes && 4 * fwd.wasmHeapBytes > 4 * 2 ** 30) {
            out.rows.push({ backend, preset, pass, error: `skipped: ≈ ${fmt((4 * fwd.wasmHeapBytes) / 2 ** 30, 1)} GiB of wasm heap predicted (4 × the forward's ${fmt(fwd.wasmHeapBytes / 2 ** 30, 2)} GiB), over the 4 GiB a wasm heap can address` });
            log(`${backend} ${preset} ${pass}: skipped (heap)`);
            continue;
          }
          if (pass === 'gradient' && fwd && !fwd.error && 3 * fwd.msPerCrop > budgetMs) {
            out.rows.push({ backend, preset, pass, error: `skipped: over budget (≥ ${fmt((3 * fwd.msPerCrop) / 1000, 0)} s predicted as 3 × the forward; budget ${budgetMs / 1000} s)` });
            log(`${backend} ${preset} ${pass}: skipped (predicted ${fmt((3 * fwd.msPerCrop) / 1000, 0)} s)`);
            continue;
          }
          try {
            const res = await call('swinBench', 'pass', h, { preset, cropSize: SWIN_R, crops: 1, pass, rounds: 2, budgetMs, profile: opts.profile });
            res.adapter = info.adapter;
            res.software = info.software;
            res.wasmThreads = info.wasmThreads;
            out.rows.push(res);
            log(`${backend} ${preset} ${pass}: ${fmt(res.msPerCrop, 0)} ms/crop${res.firstOnly ? ' (first pass only)' : ''}, ${fmt(res.gflops, 2)} GFLOP/s (${res.ms.map((x) => fmt(x, 0)).join(', ')})`);
            if (res.kernels) log(`  kernels: ${res.kernels.map((k) => `${k.name} ${fmt(k.ms, 0)}`).join(', ')}`);
          } catch (e) {
            out.rows.push({ backend, preset, pass, error: firstLine(e) });
            log(`${backend} ${preset} ${pass}: ${firstLine(e)}`);
          }
        }
      }
    } catch (e) {
      out.rows.push({ backend, preset: '—', pass: '—', error: firstLine(e) });
      log(`${backend}: ${firstLine(e)}`);
    } finally {
      if (h !== null) await close('swinBench', h);
    }
  }

  // One VoCo step (student + teacher heads, losses, AdamW) through the studio's Trainer, where the gradient pass
  // predicts it fits the budget.
  const crops = SWIN_STEP.batchVolumes * (SWIN_STEP.gridN ** 2 + SWIN_STEP.randomCrops);
  for (const backend of opts.backends) {
    for (const preset of opts.presets) {
      const g = out.rows.find((x) => x.backend === backend && x.preset === preset && x.pass === 'gradient' && !x.error);
      const predictedMs = g ? g.msPerCrop * crops : null;
      if (!g || 2 * predictedMs > budgetMs) {
        out.steps.push({ backend, preset, crops, status: 'skipped', predictedMs, note: g ? `predicted ${fmt(predictedMs / 1000, 0)} s/step (${crops} × the gradient pass); needs 2 steps within the ${budgetMs / 1000} s budget` : 'no gradient pass measured' });
        continue;
      }
      let h = null;
      try {
        h = await call('bench', 'open');
        await call('bench', 'init', h, backend, { useStore: false });
        await call('bench', 'volumes', h, SWIN_STEP.batchVolumes);
        const r = await call('bench', 'train', h, { preset, steps: 1, warmup: 1, budgetMs: Math.max(budgetMs, 2.5 * predictedMs), ...SWIN_STEP });
        out.steps.push({ backend, preset, crops, status: r.status, medianMs: r.medianMs, warmupMs: r.warmupMs?.[0], predictedMs, note: r.note, memory: r.memory });
        log(`${backend} ${preset} VoCo step (${crops} crops): ${r.status === 'ok' ? `${fmt(r.medianMs, 0)} ms` : r.note}`);
      } catch (e) {
        out.steps.push({ backend, preset, crops, status: 'error', predictedMs, note: firstLine(e) });
      } finally {
        if (h !== null) await close('bench', h);
      }
    }
  }

  if (opts.torch !== false) out.torch = torchSwin(opts.presets, log, opts.torchThreads ?? [1]);
  out.loadavgEnd = loadavg();
  return out;
}

const FEATURE_SIZE = { 'swin-tiny': 12, 'VoCo-B': 48, 'VoCo-L': 96, 'VoCo-H': 192 };

/**
 * bench/swin_torch.py: the same passes with the authors' model in PyTorch on CPU. One thread by default (on a busy
 * 2-core machine one thread was the faster: 4.5–7 s vs 8.7–11 s per fs-12 forward); --swin-torch-threads 1,2.
 */
function torchSwin(presets, log, threadCounts) {
  const py = '/usr/bin/python3';
  if (!existsSync(py)) return { error: `${py} not found` };
  const runs = [];
  for (const threads of threadCounts) {
    const args = [join(root, 'bench', 'swin_torch.py'), '--json', '--r', String(SWIN_R), '--threads', String(threads)];
    for (const p of presets) args.push('--feature-size', String(FEATURE_SIZE[p]));
    log(`PyTorch (${threads} thread(s)) …`);
    const env = threads === 1 ? { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' } : process.env;
    const r = spawnSync(py, args, { encoding: 'utf8', timeout: 30 * 60_000, env });
    if (r.status !== 0) {
      runs.push({ threads, error: `swin_torch.py failed (${r.status}): ${(r.stderr || '').trim().split('\n').slice(-2).join(' | ')}` });
      continue;
    }
    runs.push({ threads, ...JSON.parse(r.stdout) });
  }
  return { runs };
}

/** The fastest PyTorch result per feature size and measure. */
function bestTorch(torch, fs, key) {
  const xs = (torch?.runs ?? []).filter((r) => !r.error).flatMap((r) => r.results.filter((x) => x.featureSize === fs).map((x) => ({ ...x, threads: r.threads })));
  const ok = xs.filter((x) => Number.isFinite(x[key]));
  return ok.sort((a, b) => a[key] - b[key])[0] ?? null;
}

export function swinMarkdown(s) {
  if (!s) return '';
  const L = [];
  const presets = [...new Set(s.rows.map((r) => r.preset).filter((p) => p !== '—'))];
  L.push('', `## Reference encoder (SwinViT v2 + UNETR, r = ${s.r})`, '');
  L.push(`Load average ${s.loadavgStart.map((x) => x.toFixed(1)).join('/')} at start, ${s.loadavgEnd.map((x) => x.toFixed(1)).join('/')} at end. ` +
    'Random weights and random crops (the time does not depend on the values); one crop per pass; median of the passes after the first ' +
    '(the first compiles shaders / grows the heap; "first only" where the budget left no second). Gradient = forward + backward of sum(embedding) ' +
    'w.r.t. every encoder weight (the encoder\'s share of a training step). GFLOP = backbone matmul/convolution FLOPs (src/model/swin/flops.ts), ' +
    'backward counted as 2 × forward.');
  L.push('');
  L.push('| backend | preset | GFLOP/crop fwd | forward ms/crop | GFLOP/s | fwd+bwd ms/crop | GFLOP/s | PyTorch CPU fwd ms/crop | fwd+bwd ms/crop | studio ÷ PyTorch (fwd) |');
  L.push('|---|---|---|---|---|---|---|---|---|---|');
  const backends = [...new Set(s.rows.map((r) => r.backend))];
  for (const b of backends) {
    for (const p of presets) {
      const f = s.rows.find((r) => r.backend === b && r.preset === p && r.pass === 'forward');
      const g = s.rows.find((r) => r.backend === b && r.preset === p && r.pass === 'gradient');
      if (!f && !g) continue;
      const tf = bestTorch(s.torch, FEATURE_SIZE[p], 'forwardMs');
      const tg = bestTorch(s.torch, FEATURE_SIZE[p], 'gradientMs');
      const cell = (r) => (!r ? 'n/a' : r.error ? r.error : `${fmt(r.msPerCrop, 0)}${r.firstOnly ? ' (first only)' : ''}`);
      const name = `${b}${f?.software ? ' (software adapter)' : ''}${f?.wasmThreads ? ` (${f.wasmThreads} threads)` : ''}`;
      L.push(`| ${name} | ${p} | ${s.gflop?.[p] ? fmt(s.gflop[p], 1) : f?.forwardFlopsPerCrop ? fmt(f.forwardFlopsPerCrop / 1e9, 1) : 'n/a'} | ${cell(f)} | ${f && !f.error ? fmt(f.gflops, 2) : '—'} | ${cell(g)} | ${g && !g.error ? fmt(g.gflops, 2) : '—'} | ` +
        `${tf ? `${fmt(tf.forwardMs, 0)} (${tf.threads} thr)` : 'n/a'} | ${tg ? `${fmt(tg.gradientMs, 0)} (${tg.threads} thr)` : 'n/a'} | ${f && !f.error && tf ? fmt(f.msPerCrop / tf.forwardMs, 2) + '×' : 'n/a'} |`);
    }
  }
  L.push('');
  const crops = s.step.batchVolumes * (s.step.gridN ** 2 + s.step.randomCrops);
  L.push(`VoCo training step (B = ${s.step.batchVolumes}, n = ${s.step.gridN}, sw = ${s.step.randomCrops}: ${crops} crops of ${s.r}³, the smallest step the run setup takes; student + teacher heads, losses, AdamW):`);
  L.push('');
  L.push('| backend | preset | measured ms/step | predicted ms/step (crops × fwd+bwd) | PyTorch CPU ms/step | note |');
  L.push('|---|---|---|---|---|---|');
  for (const st of s.steps) {
    const t = bestTorch(s.torch, FEATURE_SIZE[st.preset], 'stepMs');
    L.push(`| ${st.backend} | ${st.preset} | ${st.status === 'ok' ? fmt(st.medianMs, 0) : '—'} | ${fmt(st.predictedMs, 0)} | ${t ? `${fmt(t.stepMs, 0)} (${t.threads} thr)` : 'n/a'} | ${st.note ?? ''} |`);
  }
  L.push('');
  const ws = s.map.strides;
  L.push(`Similarity map of the sample CT (${s.map.dims.join('×')} voxels at 3 mm), windows of ${s.r}³: ${Object.entries(ws).map(([k, v]) => `stride ${k} → ${v} windows`).join(', ')} ` +
    '(plus the query crop; × 2 with the untrained comparison map).');
  L.push('');
  L.push(`| preset | GFLOP per map at stride ${s.map.defaultStride} | fastest browser backend here | its map time at stride ${s.map.defaultStride} | in ${s.map.tiles ?? '?'} tiles | PyTorch CPU at stride ${s.map.defaultStride} | sustained GFLOP/s for a ${USABLE.mapS} s map | for a ${USABLE.stepS} s step |`);
  L.push('|---|---|---|---|---|---|---|---|');
  for (const p of presets) {
    const fw = s.rows.filter((r) => r.preset === p && r.pass === 'forward' && !r.error).sort((a, b) => a.msPerCrop - b.msPerCrop)[0];
    const flops = s.gflop?.[p] ? s.gflop[p] * 1e9 : s.rows.find((r) => r.preset === p && r.forwardFlopsPerCrop)?.forwardFlopsPerCrop;
    const n = ws[s.map.defaultStride] + 1;
    const tf = bestTorch(s.torch, FEATURE_SIZE[p], 'forwardMs');
    const t = (ms) => (ms < 120_000 ? `${fmt(ms / 1000, 0)} s` : `${fmt(ms / 60_000, 0)} min`);
    L.push(`| ${p} | ${flops ? fmt((n * flops) / 1e9, 0) : 'n/a'} | ${fw ? fw.backend : 'n/a'} | ${fw ? t(n * fw.msPerCrop) : 'n/a'} | ${fw ? t(((s.map.tiles ?? ws[s.r]) + 1) * fw.msPerCrop) : 'n/a'} | ${tf ? t(n * tf.forwardMs) : 'n/a'} | ` +
      `${flops ? fmt((n * flops) / 1e9 / USABLE.mapS, 0) : 'n/a'} | ${flops ? fmt((crops * 3 * flops) / 1e9 / USABLE.stepS, 0) : 'n/a'} |`);
  }
  L.push('');
  L.push(`"Usable" here: a map at the default stride in ≤ ${USABLE.mapS} s and a ${crops}-crop training step in ≤ ${USABLE.stepS} s. ` +
    'The sustained rates in the last two columns are what a backend must reach; a discrete GPU running WebGPU at ~10–30 % of a 10–80 TFLOP/s fp32 peak ' +
    'sustains 1–20 TFLOP/s, the CPU backends above reach the GFLOP/s shown in the first table.');
  if (s.torch?.runs) {
    for (const r of s.torch.runs) L.push(r.error ? `\nPyTorch (${r.threads} thr): ${r.error}` : `\nPyTorch (${r.threads} thr): torch ${r.torch}, BLAS ${r.blas}; ${r.results.map((x) => `fs ${x.featureSize}: fwd ${fmt(x.forwardMs, 0)} ms, fwd+bwd ${fmt(x.gradientMs, 0)} ms, step ${fmt(x.stepMs, 0)} ms${x.note ? ` (${x.note})` : ''}`).join('; ')}`);
  }
  return L.join('\n') + '\n';
}

// ---- run alone ----------------------------------------------------------------------------------------------

async function main() {
  const argv = process.argv.slice(2);
  const flag = (name) => argv.includes(`--${name}`);
  const option = (name, fallback) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] ? argv[i + 1] : fallback;
  };
  const { chromium } = await import('@playwright/test');
  const { CHROMIUM_ARGS, ensureChromium } = await import('../scripts/chromium.mjs');
  const outDir = join(root, 'bench', 'out');
  const dist = join(outDir, 'dist');
  mkdirSync(outDir, { recursive: true });
  await buildSelftestHarness(root, dist, { reuse: flag('no-build'), log: (m) => console.log(`[swin-bench] ${m}`) });
  const { base, stop } = await serveSelftestHarness(root, dist);
  const browser = await chromium.launch({ executablePath: ensureChromium(), args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.log('[swin-bench] page error:', e.message));
    await page.goto(`${base}/selftest.html`);
    await page.waitForFunction(() => window.selftestReady === true, null, { timeout: 60_000 });
    const open = async () => {
      const p = await browser.newPage();
      p.on('pageerror', (e) => console.log('[swin-bench] page error:', e.message));
      await p.goto(`${base}/selftest.html`);
      await p.waitForFunction(() => window.selftestReady === true, null, { timeout: 60_000 });
      return p;
    };
    const result = await benchSwin(page, {
      reopen: open,
      backends: option('backends', 'wasm,webgpu').split(','),
      presets: option('swin-presets', 'swin-tiny,VoCo-B').split(','),
      budgetS: Number(option('swin-budget', 120)),
      torch: !flag('no-torch'),
      torchThreads: option('swin-torch-threads', '1').split(',').map(Number),
      profile: flag('profile'),
    });
    writeFileSync(join(outDir, 'swin-bench.json'), JSON.stringify(result, null, 2));
    const md = swinMarkdown(result);
    writeFileSync(join(outDir, 'swin-bench.md'), md);
    console.log(md);
  } finally {
    await browser.close();
    stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error('[swin-bench] failed:', e);
    process.exit(1);
  });
}
