import { describe, expect, it } from 'vitest';
import { comparisonSvg, escapeXml, niceTicks } from '../src/store/compareSvg';
import type { ComparedRun } from '../src/store/runCompare';

const mk = (label: string, steps: number[], metrics: Record<string, number[]>, markers: ComparedRun['markers'] = []) => ({
  label,
  steps: Float64Array.from(steps),
  metrics: Object.fromEntries(Object.entries(metrics).map(([k, v]) => [k, Float64Array.from(v)])),
  markers,
});

const opts = { title: 'Runs <compared>', metrics: ['loss', 'lr'], colours: ['#111111', '#222222'], smoothing: 0.6, log: false };

describe('comparison SVG', () => {
  it('has a legend entry per run, a chart per metric, a faint raw and a smoothed path per run', () => {
    const svg = comparisonSvg([mk('run A & co', [0, 1, 2], { loss: [3, 2, 1], lr: [1, 2, 3] }), mk('run B', [0, 2], { loss: [4, 2] })], { ...opts, details: ['lr 1e-3', 'lr 1e-4'] });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(svg.match(/class="legend-entry"/g)).toHaveLength(2);
    expect(svg).toContain('run A &amp; co');
    expect(svg).toContain('lr 1e-4</tspan>');
    expect(svg).toContain('Runs &lt;compared&gt;');
    expect(svg.match(/<g class="chart"/g)).toHaveLength(2);
    expect(svg.match(/class="raw"/g)).toHaveLength(4);
    expect(svg.match(/class="smooth"/g)).toHaveLength(4);
    expect(svg).toContain('stroke-opacity="0.28"');
    expect(svg).toContain('Total loss');
    // Run B has no lr: its paths in the lr chart are empty.
    const lrChart = svg.slice(svg.indexOf('data-metric="lr"'));
    expect(lrChart).toMatch(/class="smooth" data-run="1" d=""/);
    // Run B spans step 1 (a step only A has) with one sub-path.
    const bLoss = /class="smooth" data-run="1" d="([^"]*)"/.exec(svg)![1];
    expect(bLoss.match(/M/g)).toHaveLength(1);
    expect(bLoss.match(/L/g)).toHaveLength(1);
  });

  it('smoothing 0 draws raw curves only; the smoothed path follows the debiased EMA', () => {
    const raw = comparisonSvg([mk('a', [0, 1], { loss: [1, 3] })], { ...opts, metrics: ['loss'], smoothing: 0 });
    expect(raw).not.toContain('class="raw"');
    const sm = comparisonSvg([mk('a', [0, 1], { loss: [1, 3] })], { ...opts, metrics: ['loss'], smoothing: 0.5 });
    // Points: y range [1, 3]; debiased EMA at step 1 = (0.25 + 1.5) / 0.75 = 2.333…, i.e. 2/3 of the way up.
    const d = /class="smooth" data-run="0" d="M([\d.]+),([\d.]+)L([\d.]+),([\d.]+)"/.exec(sm)!;
    const [y0, y1] = [Number(d[2]), Number(d[4])];
    const plotH = 200;
    expect(y0 - y1).toBeCloseTo(plotH * ((7 / 3 - 1) / 2), 0);
  });

  it('log scale leaves out non-positive values (spanned, like NaN) and ticks at powers of ten', () => {
    const svg = comparisonSvg([mk('a', [0, 1, 2, 3, 4], { loss: [10, 0, 1, NaN, 0.01] })], { ...opts, metrics: ['loss'], smoothing: 0, log: true });
    const d = /class="smooth" data-run="0" d="([^"]*)"/.exec(svg)![1];
    expect(d.match(/M/g)).toHaveLength(1);
    expect(d.match(/L/g)).toHaveLength(2); // 10, 1, 0.01: three points
    for (const t of ['>10<', '>1<', '>0.1<', '>0.01<']) expect(svg).toContain(t);
    const none = comparisonSvg([mk('a', [0], { loss: [-1] })], { ...opts, metrics: ['loss'], smoothing: 0, log: true });
    expect(none).toContain('no values above 0');
  });

  it('draws a dashed marker with its label where a run moved', () => {
    const svg = comparisonSvg([mk('a', [0, 10], { loss: [1, 2] }, [{ step: 5, label: 'torchrun' }])], { ...opts, metrics: ['loss'], width: 400 });
    const m = /class="marker" data-run="0" x1="([\d.]+)"/.exec(svg)!;
    // Plot spans x = 64 … 384 for steps 0 … 10: step 5 is in the middle.
    expect(Number(m[1])).toBeCloseTo(224, 0);
    expect(svg).toContain('stroke-dasharray');
    expect(svg).toContain('>torchrun<');
  });

  it('a series with a single value is drawn as a dot', () => {
    const svg = comparisonSvg([mk('a', [0, 1, 2], { rank: [NaN, 5, NaN] }), mk('b', [0, 1], { rank: [1, 2] })], { ...opts, metrics: ['rank'] });
    expect(svg.match(/class="dot"/g)).toHaveLength(1);
    expect(svg).toContain('class="dot" data-run="0"');
  });

  it('nice ticks and escaping', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(3, 97, 4)).toEqual([20, 40, 60, 80]);
    expect(niceTicks(2, 2)).toEqual([2]);
    expect(escapeXml(`<a b="c">'&'`)).toBe('&lt;a b=&quot;c&quot;&gt;&apos;&amp;&apos;');
  });
});
