// The Compare tab: pick runs (the current one, runs saved in this browser, .voco files and metrics CSVs) and see
// them on the same charts (one per metric series they have, one colour per run, raw curve faint under the
// debiased EMA, markers where a run moved), their settings side by side with the differences highlighted, and
// export them all at once (CSV, JSON, PNG, SVG).
import { useEffect, useMemo, useRef, useState } from 'react';
import { runHistory, useRunStore } from '../../store/runStore';
import { removeFileRun, useCompareStore } from '../../store/compareStore';
import {
  RUN_COLOURS,
  comparisonCsv,
  comparisonJson,
  differingSummary,
  metricNames,
  resultColumns,
  settingColumns,
  uniqueLabels,
  type ComparedRun,
} from '../../store/runCompare';
import { comparisonSvg } from '../../store/compareSvg';
import { RUN_FILE_EXTENSION } from '../../persist/runFile';
import { downloadBytes } from '../train/download';
import { CompareChart } from './CompareChart';
import { CompareTable } from './CompareTable';
import { canvasToPng, composeChartsCanvas } from './chartImage';
import { currentRun, importFiles, syncSaved, toggleRun } from './compareController';
import { trainingController } from '../train/trainingController';
import './compare.css';

/** Defaults of the optional RunConfig fields (src/worker/protocol.ts): "not set" compares equal to them. */
const OPTIONAL_DEFAULTS: Record<string, unknown> = { augment: true, emaMomentum: 0.9, minLr: 0, fixedBatch: false };

/**
 * The run store's history version, at most once a second and less often for long histories (every chart re-aligns
 * the whole run: about 1.7 s for 19 charts × 3 runs × 100 k points under load 22 on 2 cores), for the current
 * run's curves while it trains.
 */
function useThrottledHistoryVersion(): number {
  const [v, setV] = useState(() => useRunStore.getState().historyVersion);
  useEffect(() => {
    let timer = 0;
    const unsub = useRunStore.subscribe((s, prev) => {
      if (s.historyVersion === prev.historyVersion || timer) return;
      timer = window.setTimeout(() => {
        timer = 0;
        setV(useRunStore.getState().historyVersion);
      }, 1000 + runHistory.length / 20);
    });
    return () => {
      unsub();
      if (timer) clearTimeout(timer);
    };
  }, []);
  return v;
}

export function ComparePanel() {
  const saved = useRunStore((s) => s.savedRuns);
  const activeId = useRunStore((s) => s.runId);
  const runName = useRunStore((s) => s.runName);
  const activeStep = useRunStore((s) => s.step);
  const { selected, loaded, files, loading, smooth, smoothing, log, message } = useCompareStore();
  const version = useThrottledHistoryVersion();
  const chartsRef = useRef<HTMLDivElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    void trainingController.refreshRuns();
  }, []);
  useEffect(() => {
    void syncSaved(saved);
  }, [saved]);
  // The current run goes away with its run (new run, closed): unpick it.
  useEffect(() => {
    if (!activeId && useCompareStore.getState().selected.includes('current')) void toggleRun('current', false);
  }, [activeId]);

  const current = useMemo(() => (selected.includes('current') ? currentRun() : null), [selected, activeId, version]); // eslint-disable-line react-hooks/exhaustive-deps
  const runs: ComparedRun[] = useMemo(() => {
    const list = selected.map((k) => (k === 'current' ? current : loaded[k])).filter((r): r is ComparedRun => !!r);
    const labels = uniqueLabels(list.map((r) => r.label));
    return list.map((r, i) => ({ ...r, label: labels[i] }));
  }, [selected, loaded, current]);
  const colours = runs.map((r) => RUN_COLOURS[selected.indexOf(r.key) % RUN_COLOURS.length]);
  const settings = useMemo(() => settingColumns(runs, OPTIONAL_DEFAULTS), [runs]);
  const results = useMemo(() => resultColumns(runs), [runs]);
  const metrics = useMemo(() => metricNames(runs), [runs]);
  const beta = smooth ? smoothing : 0;
  // A run known only by its metrics has no settings to tell it apart.
  const legend = runs.map((r, i) => ({ label: r.label, colour: colours[i], detail: r.config ? differingSummary(settings, i) : r.origin === 'file' ? 'metrics only' : '' }));
  const savedHere = saved.filter((m) => m.id !== activeId);

  const stamp = () => new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const exportText = (text: string, ext: string, type: string) => downloadBytes(new TextEncoder().encode(text), `voco-comparison-${stamp()}.${ext}`, type);
  const subtitle = `${beta > 0 ? `raw (faint) and debiased EMA β = ${beta}` : 'raw values'}${log ? ' · log y' : ''}`;
  const exportPng = async () => {
    try {
      const canvas = composeChartsCanvas(chartsRef.current!, `VoCo Studio · ${runs.length} runs compared`, subtitle, legend);
      downloadBytes(await canvasToPng(canvas), `voco-comparison-${stamp()}.png`, 'image/png');
    } catch (err) {
      useCompareStore.setState({ message: { ok: false, text: (err as Error).message } });
    }
  };
  const exportSvg = () =>
    exportText(comparisonSvg(runs, { title: `VoCo Studio · ${runs.length} runs compared`, metrics, colours, details: legend.map((e) => e.detail), smoothing: beta, log }), 'svg', 'image/svg+xml');

  const pick = (key: string, label: string, facts: string, extra?: React.ReactNode) => {
    const on = selected.includes(key);
    const colour = on ? RUN_COLOURS[selected.indexOf(key) % RUN_COLOURS.length] : 'transparent';
    return (
      <li key={key} className={on ? 'on' : ''}>
        <label>
          <input type="checkbox" checked={on} disabled={loading.includes(key)} data-testid="compare-pick" data-key={key} onChange={(e) => void toggleRun(key, e.target.checked)} />
          <i className="swatch" style={{ background: colour }} />
          <span className="compare-pick-name">{label}</span>
        </label>
        <span className="muted small">{facts}</span>
        {extra}
      </li>
    );
  };

  return (
    <div className="compare-panel" data-testid="compare-panel">
      <section className="compare-section">
        <div className="section-head">
          <h3>Runs</h3>
          <button className="btn small" data-testid="compare-import" onClick={() => fileInput.current?.click()} title="Add .voco run files or metrics CSVs (e.g. the cluster part of a run)">
            Add files…
          </button>
          <input
            ref={fileInput}
            type="file"
            multiple
            hidden
            accept={`${RUN_FILE_EXTENSION},.csv,application/zip,text/csv`}
            data-testid="compare-file-input"
            onChange={(e) => {
              const list = [...(e.target.files ?? [])];
              e.target.value = '';
              if (list.length) void importFiles(list);
            }}
          />
        </div>
        <ul className="compare-picks" data-testid="compare-picks">
          {activeId ? pick('current', `${runName ?? activeId} (current)`, `step ${activeStep}, live`) : null}
          {savedHere.map((m) => pick(`saved:${m.id}`, m.name, `step ${m.step} · lr ${m.config.lr} · ${m.origin}`))}
          {files.map((f) =>
            pick(
              f.key,
              f.name,
              'file',
              <button className="link" title="remove from the comparison" onClick={() => removeFileRun(f.key)}>
                ×
              </button>,
            ),
          )}
        </ul>
        {!activeId && !savedHere.length && !files.length ? <p className="muted small">No runs yet: train one in the Train tab, or add a .voco file or a metrics CSV.</p> : null}
        {message ? (
          <pre className={`compare-message ${message.ok ? 'good' : 'bad'}`} data-testid="compare-message">
            {message.text}
          </pre>
        ) : null}
      </section>

      {runs.length ? (
        <>
          <section className="compare-section">
            <div className="compare-toolbar">
              <label title="Debiased exponential moving average over the raw curve">
                <input type="checkbox" checked={smooth} onChange={(e) => useCompareStore.setState({ smooth: e.target.checked })} data-testid="compare-smooth" /> smooth
              </label>
              <input type="range" min={0} max={0.99} step={0.01} value={smoothing} disabled={!smooth} aria-label="EMA β" data-testid="compare-smoothing" onChange={(e) => useCompareStore.setState({ smoothing: Number(e.target.value) })} />
              <span className="muted">β {smoothing.toFixed(2)}</span>
              <label title="Logarithmic y axes (values ≤ 0 are left out)">
                <input type="checkbox" checked={log} onChange={(e) => useCompareStore.setState({ log: e.target.checked })} data-testid="compare-log" /> log y
              </label>
              <span className="compare-exports">
                export
                <button className="btn small" data-testid="compare-export-csv" onClick={() => exportText(comparisonCsv(runs), 'csv', 'text/csv')} title="long format: run, step, metric, value">
                  CSV
                </button>
                <button className="btn small" data-testid="compare-export-json" onClick={() => exportText(comparisonJson(runs, { smoothing: beta, exportedAt: new Date().toISOString() }), 'json', 'application/json')}>
                  JSON
                </button>
                <button className="btn small" data-testid="compare-export-png" onClick={() => void exportPng()}>
                  PNG
                </button>
                <button className="btn small" data-testid="compare-export-svg" onClick={exportSvg}>
                  SVG
                </button>
              </span>
            </div>
            <ul className="compare-legend" data-testid="compare-legend">
              {legend.map((e, i) => (
                <li key={runs[i].key} data-testid="compare-legend-entry" data-run={runs[i].key}>
                  <i className="swatch-line" style={{ borderColor: e.colour }} />
                  <span className="compare-legend-label">{e.label}</span>
                  {e.detail ? <span className="compare-legend-diff">{e.detail}</span> : null}
                  {runs[i].markers.length ? <span className="muted small"> · moved at {runs[i].markers.map((m) => `${m.step} (${m.label})`).join(', ')}</span> : null}
                </li>
              ))}
            </ul>
            <div className="compare-charts" ref={chartsRef} data-testid="compare-charts">
              {metrics.map((m) => (
                <CompareChart key={m} metric={m} runs={runs} colours={colours} smoothing={beta} log={log} />
              ))}
            </div>
          </section>
          <CompareTable runs={runs} colours={colours} settings={settings} results={results} />
        </>
      ) : (
        <p className="muted compare-empty">Pick two or more runs above to overlay their curves.</p>
      )}
    </div>
  );
}
