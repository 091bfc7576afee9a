// `npm run bench:f16-dawn`: the half-precision storage section of `npm run bench` (src/selftest/halfPrecision.ts
// bench: f32 register-tiled vs packed-f16 vs native f16 where offered, interleaved) on the OTHER adapter this machine
// has, Dawn under Node (the `webgpu` npm package), with its roofline line. Not a test: it prints a table and asserts
// only that no GPU error was raised. HALF_SIZES=128,256,512 (default), HALF_ROUNDS=3.
import { expect, it } from 'vitest';
import { loadavg } from 'node:os';
import { initNodeWebgpu, requireWebgpu } from '../test/helpers/nodeWebgpu';

it('half-precision storage vs f32 on Dawn under Node', async () => {
  requireWebgpu(await initNodeWebgpu());
  const { bench } = await import('../src/selftest/halfPrecision');
  const sizes = (process.env.HALF_SIZES ?? '128,256,512').split(',').map(Number);
  const before = loadavg();
  const r = await bench(sizes, { rounds: Number(process.env.HALF_ROUNDS ?? 3), perRound: 2 });
  const fmt = (v: number, d = 2) => v.toFixed(d);
  // The adapter's measured f32 matmul peak: the best float32 program's row (plain or pairs).
  const bestF32 = Math.max(...r.rows.filter((x) => x.variant === 'f32 tiled' || x.variant === 'f32 pairs').map((x) => x.gflops));
  const f32At = new Map(r.rows.filter((x) => x.variant === 'f32 tiled').map((x) => [x.shape, x.gflops]));
  const lines = [
    `## Half-precision storage (f16) on webgpu — Dawn under Node, adapter ${r.adapter.text}`, '',
    `Load average ${before.map((x) => x.toFixed(1)).join('/')} → ${loadavg().map((x) => x.toFixed(1)).join('/')}. ` +
      `shader-f16: ${r.adapter.deviceFeatures.includes('shader-f16') ? 'yes' : 'no (native f16 not run)'}; adapter features: ${r.adapter.adapterFeatures.join(', ') || 'none'}.`, '',
    `Roofline (this adapter): f32 matmul peak ${fmt(bestF32)} GFLOP/s (best f32 row), copy ${fmt(r.copyGbPerSec)} GB/s (y = −x, read + write) → ridge ${fmt(bestF32 / r.copyGbPerSec, 1)} FLOP/byte.`, '',
    '| size | variant | ms | GFLOP/s | vs f32 tiled | % of f32 peak | GB/s | % of copy | max abs diff vs f32 |', '|---|---|---|---|---|---|---|---|---|',
    ...r.rows.map((x) => `| ${x.shape} | ${x.variant} | ${fmt(x.ms)} | ${fmt(x.gflops)} | ${fmt(x.gflops / f32At.get(x.shape)!)}× | ${fmt((100 * x.gflops) / bestF32, 0)} % | ` +
      `${fmt(x.gbPerSec, 3)} | ${fmt((100 * x.gbPerSec) / r.copyGbPerSec, 1)} % | ${x.maxAbsDiffVsF32.toExponential(1)} |`),
  ];
  console.log('\n' + lines.join('\n') + '\n');
  expect(r.gpuErrors).toEqual([]);
});
