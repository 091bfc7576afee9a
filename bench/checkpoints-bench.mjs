#!/usr/bin/env node
// `npm run bench:checkpoints [-- --fs 48]`: how the checkpoint readers and writers (src/model/checkpoints) do on a
// file the size of a released model. Writes the authors' layout at feature size fs (48 = VoCo-B, 212 MB) as .pt
// and .safetensors to a temp folder, then reads each back from a file-backed Blob (fs.openAsBlob, as a browser
// File) the way the import dialog does: the report (directory + pickle / header, index buffers checked), then
// every weight as float32. Prints times, throughput, the largest single read and the process's peak RSS;
// with /usr/bin/python3 + torch, torch.load's time on the same .pt for comparison. Asserts nothing.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openAsBlob, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const fsArg = argv.indexOf('--fs');
const FS = fsArg >= 0 ? Number(argv[fsArg + 1]) : 48;
const outDir = join(root, 'bench', 'out', 'checkpoints-ssr');
await build({ root, publicDir: false, logLevel: 'warn', build: { ssr: 'src/model/checkpoints/index.ts', outDir, emptyOutDir: true } });
const ck = await import(pathToFileURL(join(outDir, 'index.js')).href);

let peakRss = 0;
const sample = () => (peakRss = Math.max(peakRss, process.memoryUsage().rss));
const timer = setInterval(sample, 20);
const ms = (t) => (performance.now() - t).toFixed(0);
const MB = (b) => (b / 1e6).toFixed(1);

const layout = ck.vocoHeadLayout(FS, 1024).filter((e) => e.dtype === 'float32');
const numel = (s) => s.reduce((a, b) => a * b, 1);
const biggest = Math.max(...layout.map((e) => numel(e.shape)));
const pool = new Float32Array(biggest + layout.length);
for (let i = 0; i < pool.length; i++) pool[i] = Math.sin(i) * 0.01;
const weights = layout.map((e, i) => ({ name: e.key, shape: e.shape, data: pool.subarray(i, i + numel(e.shape)) }));
const dir = mkdtempSync(join(tmpdir(), 'voco-ckpt-bench-'));
const rows = [];
console.log(`[bench] feature size ${FS} (${ck.referenceModelName(FS)}), ${layout.length} weights, ${(layout.reduce((a, e) => a + numel(e.shape), 0) / 1e6).toFixed(1)} M parameters; load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
try {
  for (const format of ['pt', 'safetensors']) {
    const path = join(dir, `model.${format}`);
    let t = performance.now();
    const pieces = format === 'pt' ? ck.exportReferencePt(weights, { featureSize: FS, headWidth: 1024, globalStep: 1 }) : ck.exportReferenceSafetensors(weights, { featureSize: FS, headWidth: 1024, globalStep: 1 });
    const fd = openSync(path, 'w');
    for (const p of pieces) writeSync(fd, p);
    closeSync(fd);
    const exportMs = ms(t);
    const size = statSync(path).size;
    const blob = await openAsBlob(path);
    let largestRead = 0;
    const src = ck.blobSource(blob, `model.${format}`);
    const counted = { name: src.name, size: src.size, read: (o, n) => ((largestRead = Math.max(largestRead, n)), src.read(o, n)) };
    t = performance.now();
    const { report, opened } = await ck.inspectCheckpoint(counted);
    const reportMs = ms(t);
    t = performance.now();
    const back = await ck.readMappedWeights(opened, report);
    const readMs = ms(t);
    sample();
    rows.push({ format, size, exportMs, reportMs, readMs, mbps: MB(size / (Number(readMs) / 1000)), largestRead, usable: report.usable, mapped: back.length });
  }
  const torchOk = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
  let torchMs = null;
  if (torchOk) {
    const r = spawnSync('/usr/bin/python3', ['-c', 'import sys,time,torch\nt=time.time();torch.load(sys.argv[1]);print(round((time.time()-t)*1000))', join(dir, 'model.pt')], { encoding: 'utf8' });
    torchMs = r.status === 0 ? Number(r.stdout.trim()) : null;
  }
  clearInterval(timer);
  console.log('\n| format | file | export (write) | report | read all weights → f32 | throughput | largest single read | usable |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.format} | ${MB(r.size)} MB | ${r.exportMs} ms | ${r.reportMs} ms | ${r.readMs} ms (${r.mapped} weights) | ${r.mbps} MB/s | ${MB(r.largestRead)} MB | ${r.usable} |`);
  console.log(`\npeak RSS of this process: ${MB(peakRss)} MB (the weights themselves: ${MB(4 * pool.length)} MB of shared views here, plus one float32 copy per read)`);
  if (torchMs !== null) console.log(`torch.load of the same .pt (Debian python3-torch, CPU): ${torchMs} ms`);
} finally {
  clearInterval(timer);
  rmSync(dir, { recursive: true, force: true });
}
