// The Benchmark tab: does pre-training help, scored live, and which model size to pick. Data (scans, label maps,
// names) → setup (tasks, weights, sweep, settings) → results table, learning curves and the scaling view.
// Everything heavy runs in the benchmark worker (benchmarkController); this only draws the benchmark store.
import { BenchmarkData } from './BenchmarkData';
import { BenchmarkResults } from './BenchmarkResults';
import { BenchmarkCurves, BenchmarkScaling } from './BenchmarkCharts';
import { BenchmarkSetup } from './BenchmarkSetup';
import './benchmark.css';

export function BenchmarkPanel() {
  return (
    <div className="panel bench-panel" data-testid="benchmark-panel">
      <BenchmarkData />
      <BenchmarkSetup />
      <BenchmarkResults />
      <BenchmarkCurves />
      <BenchmarkScaling />
    </div>
  );
}
