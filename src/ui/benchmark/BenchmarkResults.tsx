// The results table (weights × task metrics, with the chance level), what was skipped and why, and the exports.
import { useShallow } from 'zustand/react/shallow';
import { TASK_CATALOG } from '../../eval/tasks/catalog';
import { resultsCsv, resultsJson } from '../../store/benchmarkResults';
import { benchmarkCaptions, captionFacts } from '../../store/benchmarkCaptions';
import { useBenchmarkStore } from '../../store/benchmarkStore';
import type { BenchmarkScore } from '../../worker/protocol';
import { downloadBytes } from '../train/download';
import { BenchmarkPaired } from './BenchmarkPaired';

const SHORT: Record<string, string> = { position: 'pos', 'organ-probe': 'probe', 'few-shot-seg': 'seg', retrieval: 'retr' };

export function BenchmarkResults() {
  const { results, phase, tasks } = useBenchmarkStore(useShallow((s) => ({ results: s.results, phase: s.phase, tasks: s.tasks })));
  const k = useBenchmarkStore((s) => s.options.retrieval.k);
  if (!results.weights.length && !results.skipped.length) return null;
  const shownTasks = TASK_CATALOG.filter((t) => tasks.includes(t.id) || results.scores.some((s) => s.task === t.id));
  const columns = shownTasks.flatMap((t) => t.metrics.map((m) => ({ task: t, metric: m })));
  const find = (w: string, task: string, metric: string) => results.scores.find((s) => s.weightsId === w && s.task === task && s.metric === metric);
  const chanceOf = (task: string, metric: string) => results.scores.find((s) => s.task === task && s.metric === metric && s.chance !== undefined)?.chance;
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const done = phase === 'done' || phase === 'cancelled' || phase === 'error';
  // What the scores can and cannot claim, derived from the request and the scores (visible, not a tooltip).
  const facts = captionFacts(results);
  const captions = facts ? benchmarkCaptions(facts) : [];

  return (
    <section className="bench-section" data-testid="bench-results">
      <div className="section-head">
        <h3>Results</h3>
        <button className="btn small" data-testid="bench-export-csv" disabled={!done || !results.scores.length} onClick={() => downloadBytes(new TextEncoder().encode(resultsCsv(results)), `voco-benchmark-${stamp}.csv`, 'text/csv')}>
          CSV
        </button>
        <button className="btn small" data-testid="bench-export-json" disabled={!done || !results.scores.length} onClick={() => downloadBytes(new TextEncoder().encode(resultsJson(results)), `voco-benchmark-${stamp}.json`, 'application/json')}>
          JSON
        </button>
      </div>
      {captions.length > 0 && (
        <div className="bench-captions" data-testid="bench-captions">
          {captions.map((c) => (
            <p key={c.kind} className="bench-caption" data-testid="bench-caption" data-kind={c.kind}>
              <strong>{c.text}</strong> <span className="muted">({c.detail})</span>
            </p>
          ))}
        </div>
      )}
      <div className="bench-table-wrap">
        <table className="table bench-table" data-testid="bench-table">
          <thead>
            <tr>
              <th className="bench-wcol">weights</th>
              {columns.map(({ task, metric }) => (
                <th key={`${task.id}.${metric.key}`} title={`${task.title}: ${metric.label} (${metric.better} is better)\n${task.description}`}>
                  {SHORT[task.id] ?? task.id}
                  <br />
                  <span className="muted">
                    {metric.key === 'precisionAtK' ? `P@${k}` : metric.label.replace('argmax ', '').replace('overlap ', '')}
                    {metric.better === 'lower' ? ' ↓' : ''}
                  </span>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {results.weights.map((w) => (
              <tr key={w.id} data-testid="bench-row" data-weights={w.id}>
                <td className="bench-wcol" title={`${w.label}\n${w.preset}, ${w.encoderParams.toLocaleString()} encoder parameters, step ${w.step}`}>
                  {w.label}
                </td>
                {columns.map(({ task, metric }) => (
                  <ScoreCell key={`${task.id}.${metric.key}`} score={find(w.id, task.id, metric.key)} skipped={results.skipped.find((x) => x.task === task.id && (x.weightsId === w.id || x.weightsId === null))?.reason} />
                ))}
              </tr>
            ))}
            <tr className="bench-chance">
              <td className="bench-wcol muted" title="what features without information would score: the most frequent structure, a random guess, random neighbours">
                chance
              </td>
              {columns.map(({ task, metric }) => {
                const c = chanceOf(task.id, metric.key);
                return (
                  <td key={`${task.id}.${metric.key}`} className="muted">
                    {c === undefined ? '' : c.toFixed(3)}
                  </td>
                );
              })}
            </tr>
          </tbody>
        </table>
      </div>
      <BenchmarkPaired results={results} />
      {results.skipped.length > 0 && (
        <ul className="bench-skipped" data-testid="bench-skipped">
          {results.skipped.map((s, i) => (
            <li key={i} className="warn small">
              {s.task}
              {s.weightsId ? ` (${results.weights.find((w) => w.id === s.weightsId)?.label ?? s.weightsId})` : ''}: {s.reason}
            </li>
          ))}
        </ul>
      )}
      {results.backend && (
        <p className="muted small">
          {results.backend}
          {results.ms !== null ? ` · ${(results.ms / 1000).toFixed(1)} s` : ''} · {results.structures.length} structures: {results.structures.map((s) => s.name).join(', ')}
        </p>
      )}
    </section>
  );
}

function ScoreCell({ score, skipped }: { score?: BenchmarkScore; skipped?: string }) {
  if (!score) return <td className="muted" title={skipped ?? 'not scored (yet)'}>{skipped ? 'skip' : '…'}</td>;
  const per = score.perStructure ? Object.entries(score.perStructure).map(([k, v]) => `${k}: ${v.toFixed(3)}`).join('\n') : '';
  const splits = score.splitValues ? `mean of ${score.splitValues.length} splits: ${score.splitValues.map((v) => v.toFixed(3)).join(', ')}` : '';
  const title = [`${score.value.toFixed(4)} on ${score.n} test crops${score.splitValues ? ' per split' : ''}${score.chance !== undefined ? ` (chance ${score.chance.toFixed(3)})` : ''}`, splits, per, ...score.notes].filter(Boolean).join('\n');
  const aboveChance = score.chance !== undefined ? (score.metric === 'mae' ? score.value < score.chance : score.value > score.chance) : null;
  return (
    <td data-testid="bench-score" data-task={score.task} data-metric={score.metric} data-weights={score.weightsId} data-value={score.value} title={title} className={aboveChance === false ? 'warn' : ''}>
      {Number.isFinite(score.value) ? score.value.toFixed(3) : String(score.value)}
    </td>
  );
}
