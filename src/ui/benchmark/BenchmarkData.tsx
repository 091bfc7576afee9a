// Which scans the benchmark scores on and which were used for pre-training, manual pairing of a label map with
// its scan (refused with both geometries when the grids differ), and the structure names.
import { useMemo, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { loadedScans, useDatasetStore } from '../../store/datasetStore';
import { renameStructure, useBenchmarkStore } from '../../store/benchmarkStore';
import { labelVoxelCounts } from '../../eval/sampling';
import type { Volume } from '../../volume/volume';
import { useRunStore } from '../../store/runStore';
import { benchmarkController, volumeRoles } from './benchmarkController';

export function BenchmarkData() {
  const scans = useDatasetStore(useShallow((s) => loadedScans(s)));
  const allVolumes = useDatasetStore((s) => s.volumes);
  const rows = useDatasetStore((s) => s.rows);
  const roles = useBenchmarkStore(useShallow((s) => ({ scoreOn: s.scoreOn, pretrainedOn: s.pretrainedOn })));
  const runIds = useRunStore((s) => s.config?.volumeIds) ?? [];
  const pairMessage = useBenchmarkStore((s) => s.pairMessage);
  const namesSource = useBenchmarkStore((s) => s.labelNamesSource);
  const nameCount = useBenchmarkStore((s) => Object.keys(s.labelNames).length);
  const labelNames = useBenchmarkStore((s) => s.labelNames);
  const maxStructures = useBenchmarkStore((s) => s.options.maxStructures);
  const [labelPick, setLabelPick] = useState('');
  const [scanPick, setScanPick] = useState('');

  const labelled = scans.filter((v) => v.labels).length;
  const volumeChoices = useMemo(
    () => rows.filter((r) => r.volumeId && allVolumes[r.volumeId]).map((r) => ({ id: r.volumeId!, name: r.name })),
    [rows, allVolumes],
  );

  const setRole = (key: 'scoreOn' | 'pretrainedOn', id: string, on: boolean) =>
    useBenchmarkStore.setState((s) => ({ [key]: { ...s[key], [id]: on } }) as never);

  return (
    <section className="bench-section" data-testid="bench-data">
      <h3>Data</h3>
      {scans.length === 0 ? (
        <p className="muted">Load scans in the dataset panel; drop a label map (NIfTI/NRRD) with its scan to score the label tasks.</p>
      ) : (
        <table className="table bench-scans">
          <colgroup>
            <col />
            <col style={{ width: 86 }} />
            <col style={{ width: 44 }} />
            <col style={{ width: 56 }} />
          </colgroup>
          <thead>
            <tr>
              <th>scan</th>
              <th>labels</th>
              <th title="score the tasks on this scan">score</th>
              <th title="the weights were (or the sweep is) pre-trained on this scan; position prediction leaves it out">pre-train</th>
            </tr>
          </thead>
          <tbody>
            {scans.map((v) => {
              const r = volumeRoles(v, roles, runIds);
              const row = rows.find((x) => x.volumeId === v.id);
              return (
                <tr key={v.id} data-testid="bench-scan-row" data-name={v.name}>
                  <td title={`${v.name} · ${v.dims.join('×')}`}>{v.name}</td>
                  <td className={v.labels ? 'good' : 'muted'} title={row?.labels?.sources.join('\n')}>
                    {v.labels ? `${row?.labels?.ids ?? '?'} ids` : 'none'}
                  </td>
                  <td>
                    <input type="checkbox" data-testid="bench-role-score" checked={r.score} onChange={(e) => setRole('scoreOn', v.id, e.target.checked)} />
                  </td>
                  <td>
                    <input type="checkbox" data-testid="bench-role-pretrain" checked={r.pretrain} onChange={(e) => setRole('pretrainedOn', v.id, e.target.checked)} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <p className="muted small">
        {labelled} labelled scan{labelled === 1 ? '' : 's'}. Label maps dropped with their scan are paired by grid automatically; pair one by hand here.
      </p>
      <div className="bench-row bench-pair">
        <select data-testid="bench-pair-label" value={labelPick} onChange={(e) => setLabelPick(e.target.value)} title="the label map (one multi-label map or one binary mask)">
          <option value="">label map…</option>
          {volumeChoices.map((v) => (
            <option key={v.id} value={v.id}>
              {v.name}
            </option>
          ))}
        </select>
        <span className="muted">→</span>
        <select data-testid="bench-pair-scan" value={scanPick} onChange={(e) => setScanPick(e.target.value)}>
          <option value="">scan…</option>
          {scans.map((v) => (
            <option key={v.id} value={v.id}>
              {v.name}
            </option>
          ))}
        </select>
        <button className="btn" data-testid="bench-pair" disabled={!labelPick || !scanPick} onClick={() => benchmarkController.pairManually(labelPick, scanPick)}>
          Pair
        </button>
      </div>
      {pairMessage && (
        <pre className={`bench-message ${pairMessage.ok ? 'good' : 'bad'}`} data-testid="bench-pair-message">
          {pairMessage.text}
        </pre>
      )}
      <div className="bench-row">
        <label className="btn bench-file">
          Structure names (JSON)…
          <input
            type="file"
            accept=".json,application/json"
            data-testid="bench-names-input"
            onChange={(e) => {
              const f = e.target.files?.[0];
              if (f) void benchmarkController.loadLabelNames(f);
              e.target.value = '';
            }}
          />
        </label>
        <span className="muted small" data-testid="bench-names-source">
          {namesSource ? `${nameCount} names · ${namesSource}` : 'no names yet: ids are shown'}
        </span>
      </div>
      <StructureNames scans={scans.filter((v) => volumeRoles(v, roles, runIds).score)} names={labelNames} max={maxStructures} />
    </section>
  );
}

/** Voxel counts per label id of a scan's raw label map (memoised per label array). */
const countsCache = new WeakMap<object, Map<number, number>>();
function countsOf(v: Volume): Map<number, number> {
  let c = countsCache.get(v.labels!);
  if (!c) countsCache.set(v.labels!, (c = labelVoxelCounts(v.labels!)));
  return c;
}

/** The largest structures of the scored scans (the ones the tasks will use), with editable names. */
function StructureNames({ scans, names, max }: { scans: Volume[]; names: Record<number, string>; max: number }) {
  const top = useMemo(() => {
    const total = new Map<number, number>();
    for (const v of scans) if (v.labels) for (const [id, n] of countsOf(v)) if (id !== 0) total.set(id, (total.get(id) ?? 0) + n);
    return [...total.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, max);
  }, [scans, max]);
  if (!top.length) return null;
  return (
    <details className="bench-names">
      <summary className="small">Largest structures of the scored scans ({top.length}): names</summary>
      <div className="bench-name-grid">
        {top.map(([id, n]) => (
          <label key={id} className="small" title={`${n} voxels in the source scans`}>
            <span className="muted">{id}</span>
            <input value={names[id] ?? ''} placeholder={`label ${id}`} data-testid="bench-name" onChange={(e) => renameStructure(id, e.target.value)} />
          </label>
        ))}
      </div>
    </details>
  );
}
