// The Maps tab: crop similarity maps, "what the encoder has learned, on the scan". Click a point on the viewer (or
// pick a base crop): the run's encoder embeds the r³ crop there and every sliding window of the volume, and the
// cosine of each window to the query becomes a colour overlay on the scan. A second map with the untrained initial
// weights (or a saved checkpoint) shows what training changed; the base-crop matrix shows how the n² base crops of
// the training region relate. The work happens in the training worker; this panel draws the map store.
import { useEffect, useMemo, useRef, useState } from 'react';
import { PRESETS, embedDim, isSwinPreset } from '../../model/presets';
import { useDatasetStore } from '../../store/datasetStore';
import { setDisplay, useMapStore, type ComputedMap, type MapResultInfo } from '../../store/mapStore';
import { useRunStore } from '../../store/runStore';
import { useBenchmarkStore } from '../../store/benchmarkStore';
import { defaultStride } from '../../eval/similarityMap';
import { worldToVoxel } from '../../preprocess/geometry';
import { MAP_COLORMAPS, colorAt, cssGradient, type MapColormapName } from './colormaps';
import {
  autoRange,
  baseCrops,
  cancelMap,
  computeBaseMatrix,
  downloadShownMap,
  followStoreWithLayer,
  installDebugHook,
  effectiveLayout,
  mapPlan,
  mapsUnavailable,
  queryAtBase,
  queryAtPoint,
  showMap,
  startMap,
} from './mapActions';
import { onViewerClick } from './viewerLayer';
import './maps.css';

const fmt = (v: number, d = 3) => (Number.isFinite(v) ? v.toFixed(d) : '–');

export function MapsPanel() {
  const s = useMapStore();
  const cfg = useRunStore((r) => r.config);
  useRunStore((r) => r.phase); // re-render when the run becomes usable
  const savedRuns = useRunStore((r) => r.savedRuns);
  const selectedId = useDatasetStore((d) => d.selectedId);
  const volumes = useDatasetStore((d) => d.volumes);
  const select = useDatasetStore((d) => d.select);
  const unavailable = mapsUnavailable();
  const r = cfg?.cropSize ?? 0;
  const preset = cfg ? PRESETS[cfg.preset] : undefined;
  const inRun = !!(selectedId && cfg?.volumeIds.includes(selectedId));
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    installDebugHook();
    followStoreWithLayer();
  }, []);

  // Clicks on the viewer become queries while this tab is open.
  useEffect(
    () =>
      onViewerClick((mm) => {
        const st = useMapStore.getState();
        const volumeId = useDatasetStore.getState().selectedId;
        if (!st.mapOnClick || !volumeId || mapsUnavailable()) return;
        const q = queryAtPoint(volumeId, mm);
        if (typeof q === 'string') setNotice(q);
        else {
          setNotice(null);
          void startMap(q);
        }
      }),
    [],
  );

  const comparable = savedRuns.filter((m) => cfg && m.config.preset === cfg.preset && m.config.cropSize === cfg.cropSize);
  const running = s.status === 'running';
  const result = s.result;
  const shownMap = result?.maps[s.shown];

  return (
    <div className="panel maps-panel" data-testid="maps-panel" data-status={s.status} data-progress-done={s.progress?.done ?? 0} data-progress-total={s.progress?.total ?? 0}>
      <section>
        <h3>Similarity maps</h3>
        {preset && isSwinPreset(preset) ? (
          <p className="muted small" data-testid="maps-embedding">
            Embedding: the reference encoder&apos;s multi-scale GAP features (<code>model.embed</code>: its five UNETR encoder blocks — full
            resolution and SwinViT stages 0, 1, 2 and 4 — each averaged over voxels, concatenated, {embedDim(preset)} values, as the authors&apos;
            <code>Swin</code>); projection heads not used. Map value = cosine similarity of each r³ window to the query crop.
          </p>
        ) : (
          <p className="muted small" data-testid="maps-embedding">
            Embedding: the encoder&apos;s multi-scale GAP features (<code>model.embed</code>: each tapped stage of the token stream
            {preset ? ` — after blocks ${preset.stageEnds.join(', ')} —` : ''} layer-normalised and averaged over tokens, concatenated
            {preset ? `, ${embedDim(preset)} values` : ''}); projection heads not used. Map value = cosine similarity of each r³ window to the query crop.
          </p>
        )}
        {unavailable ? (
          <p className="warn" data-testid="maps-unavailable">
            {unavailable}
          </p>
        ) : null}
      </section>

      {!unavailable && cfg ? (
        <>
          <section data-testid="maps-query">
            <h3>Query</h3>
            {!inRun ? (
              <div className="warn small">
                The viewer shows {selectedId ? (volumes[selectedId]?.name ?? 'a scan') : 'no scan'}, which is not in the run. Show:{' '}
                {cfg.volumeIds.map((id) => (
                  <button key={id} className="btn small" onClick={() => select(id)}>
                    {volumes[id]?.name ?? id}
                  </button>
                ))}
              </div>
            ) : null}
            <label className="check">
              <input type="checkbox" checked={s.mapOnClick} data-testid="maps-on-click" onChange={(e) => useMapStore.setState({ mapOnClick: e.target.checked })} />
              Map the point I click on the viewer
            </label>
            {inRun && selectedId ? <BasePicker volumeId={selectedId} disabled={running} /> : null}
            <div className="maps-row">
              <label className="field-inline">
                windows
                <select
                  value={effectiveLayout()}
                  data-testid="maps-layout"
                  onChange={(e) => useMapStore.setState({ layout: e.target.value as 'sliding' | 'tiles' })}
                  title="tiles: non-overlapping r³ windows covering the scan — a coarse map in a few crops, for an encoder that needs seconds per crop"
                >
                  <option value="sliding">sliding (every stride voxels)</option>
                  <option value="tiles">tiles of r³ (coarse, fast)</option>
                </select>
              </label>
              <label className="field-inline">
                stride
                <input
                  type="number"
                  min={1}
                  max={r}
                  disabled={effectiveLayout() === 'tiles'}
                  value={effectiveLayout() === 'tiles' ? r : (s.stride ?? '')}
                  placeholder={`${defaultStride(r)} (r/4)`}
                  data-testid="maps-stride"
                  onChange={(e) => {
                    const v = e.target.value === '' ? null : Math.round(Number(e.target.value));
                    useMapStore.setState({ stride: v != null && v >= 1 && v <= r ? v : null });
                  }}
                />
              </label>
              <label className="field-inline">
                compare with
                <select value={s.compare} data-testid="maps-compare" onChange={(e) => useMapStore.setState({ compare: e.target.value as typeof s.compare })}>
                  <option value="none">nothing</option>
                  <option value="initial">untrained weights (seed {cfg.seed})</option>
                  {comparable.map((m) => (
                    <option key={m.id} value={`run:${m.id}`}>
                      checkpoint: {m.name} · step {m.step}
                    </option>
                  ))}
                </select>
              </label>
            </div>
            <div className="maps-row">
              <button className="btn" data-testid="maps-run" disabled={running || !s.query} onClick={() => s.query && void startMap(s.query)}>
                {s.query ? 'Map the query again' : 'Click a point first'}
              </button>
              <button className="btn" data-testid="maps-cancel" disabled={!running} onClick={cancelMap}>
                Cancel
              </button>
            </div>
            {s.query ? (
              <p className="small" data-testid="maps-query-label">
                Query: {s.query.label} · crop origin [{s.query.origin.join(', ')}], r = {r}
              </p>
            ) : (
              <p className="muted small">Click a point on the scan in the viewer, or pick a base crop.</p>
            )}
            {notice ? <p className="warn small">{notice}</p> : null}
            <MapCost volumeId={inRun ? selectedId : null} />
            <Progress />
          </section>

          {result && shownMap ? <ResultSection result={result} shown={s.shown} /> : null}

          <BaseMatrixSection volumeId={inRun ? selectedId : null} />
        </>
      ) : null}
    </div>
  );
}

const duration = (ms: number) => (ms < 90_000 ? `${Math.max(1, Math.round(ms / 1000))} s` : ms < 90 * 60_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`);

/** What the next map costs, before it starts: windows, crops, GFLOP, and a time from an earlier map's measured rate. */
function MapCost({ volumeId }: { volumeId: string | null }) {
  // Re-render on anything the plan reads.
  useMapStore((s) => s.layout);
  useMapStore((s) => s.stride);
  useMapStore((s) => s.compare);
  useMapStore((s) => s.msPerCrop);
  useRunStore((r) => r.backend);
  useRunStore((r) => r.config);
  const query = useMapStore((s) => s.query);
  const plan = mapPlan(volumeId, query?.volumeId === volumeId ? query.origin : undefined);
  if (!plan) return null;
  return (
    <p className="small" data-testid="maps-cost" data-windows={plan.windows} data-crops={plan.crops} data-gflop={plan.gflop} data-estimate-ms={plan.estimateMs ?? ''}>
      Cost: {plan.windows} {plan.layout === 'tiles' ? 'tiles' : 'windows'} + the query × {plan.maps} {plan.maps === 1 ? 'map' : 'maps'} = {plan.crops} crops, {plan.gflop < 100 ? plan.gflop.toFixed(1) : Math.round(plan.gflop)} GFLOP ·{' '}
      {plan.estimateMs != null
        ? `≈ ${duration(plan.estimateMs)} on ${plan.backend} (${(plan.msPerCrop! / 1000).toFixed(plan.msPerCrop! < 10_000 ? 1 : 0)} s per crop measured by the last map)`
        : `time: measured after the first batch (no map of this model on ${plan.backend ?? 'this backend'} yet)`}
    </p>
  );
}

function Progress() {
  const status = useMapStore((s) => s.status);
  const progress = useMapStore((s) => s.progress);
  const message = useMapStore((s) => s.message);
  const startedAt = useMapStore((s) => s.startedAt);
  const [, tick] = useState(0);
  useEffect(() => {
    if (status !== 'running') return;
    const id = setInterval(() => tick((t) => t + 1), 1000);
    return () => clearInterval(id);
  }, [status]);
  const frac = progress && progress.total > 0 ? progress.done / progress.total : 0;
  if (status === 'idle') return null;
  const elapsed = startedAt != null ? performance.now() - startedAt : null;
  // What is left at the pace so far (only once a batch is done: the first includes the query and compilation).
  const left = elapsed != null && progress && progress.done > 0 && progress.total > progress.done ? (elapsed / progress.done) * (progress.total - progress.done) : null;
  return (
    <div className="maps-progress" data-testid="maps-progress">
      <div className="maps-progress-bar">
        <div style={{ width: `${(status === 'done' ? 1 : frac) * 100}%` }} className={status} />
      </div>
      <span className="small">
        {status === 'running'
          ? progress?.total
            ? `${progress.done} / ${progress.total} windows${elapsed != null ? ` · ${duration(elapsed)} elapsed` : ''}${left != null ? ` · ≈ ${duration(left)} left` : ''} · training waits until the map is done`
            : `embedding the query${elapsed != null ? ` · ${duration(elapsed)} elapsed` : ''}…`
          : status === 'done'
            ? 'done'
            : status}
        {message ? ` · ${message}` : ''}
      </span>
    </div>
  );
}

function BasePicker({ volumeId, disabled }: { volumeId: string; disabled: boolean }) {
  useRunStore((r) => r.latest?.step); // re-render when the region moves
  const crops = baseCrops(volumeId);
  const query = useMapStore((s) => s.query);
  if (typeof crops === 'string') return null;
  const { n } = crops;
  const cells = [];
  for (let j = n - 1; j >= 0; j--) {
    for (let i = 0; i < n; i++) {
      const k = i * n + j;
      const active = query?.source === 'base' && query.origin.join() === crops.origins[k].join();
      cells.push(
        <button
          key={k}
          className={`base-cell${active ? ' active' : ''}`}
          data-testid="maps-base"
          data-i={i}
          data-j={j}
          disabled={disabled}
          title={`base crop (x ${i}, y ${j}) at [${crops.origins[k].join(', ')}]`}
          onClick={() => {
            const q = queryAtBase(volumeId, k);
            if (typeof q !== 'string') void startMap(q);
          }}
        >
          {i},{j}
        </button>,
      );
    }
  }
  return (
    <div className="base-picker">
      <div className="base-grid" style={{ gridTemplateColumns: `repeat(${n}, 1fr)` }}>
        {cells}
      </div>
      <span className="muted small">or a base crop of the {crops.label} (x →, y ↑)</span>
    </div>
  );
}

function ResultSection({ result, shown }: { result: MapResultInfo; shown: number }) {
  const display = useMapStore((s) => s.display);
  const overlayVisible = useMapStore((s) => s.overlayVisible);
  const map = result.maps[shown];
  // The slider spans the values the maps take (a trained map often lives in a narrow band below 1).
  const lo = Math.max(-1, Math.floor(Math.min(...result.maps.map((m) => m.summary.min)) * 100) / 100);
  return (
    <section data-testid="maps-result" data-at-query={map.atQuery} data-max={map.summary.max} data-min={map.summary.min} data-shown-kind={map.kind}>
      <h3>Map · {result.volumeName}</h3>
      <p className="muted small" data-testid="maps-facts">
        {result.windows} {result.layout === 'tiles' ? 'tiles' : 'windows'} of {result.grid.r}³ every {result.grid.stride} voxels × {result.maps.length} weights · {(result.ms / 1000).toFixed(1)} s on {result.backend} ·
        embedding {result.embedDim} values
      </p>
      <div className="seg maps-toggle" role="group" aria-label="Weights">
        {result.maps.map((m, i) => (
          <button key={i} className={i === shown ? 'active' : ''} data-testid={`maps-show-${m.kind}`} onClick={() => showMap(i)}>
            {m.kind === 'current' ? `Trained (step ${m.step})` : m.kind === 'initial' ? m.label : m.label}
          </button>
        ))}
      </div>
      <table className="table maps-stats">
        <thead>
          <tr>
            <th>weights</th>
            <th>at query</th>
            <th>median</th>
            <th>90th pct</th>
            <th>min</th>
          </tr>
        </thead>
        <tbody>
          {result.maps.map((m, i) => (
            <tr key={i} className={i === shown ? 'selected' : ''} data-testid="maps-stat-row" data-kind={m.kind}>
              <td title={m.label}>{m.kind === 'current' ? `trained · step ${m.step}` : m.label}</td>
              <td>{fmt(m.atQuery)}</td>
              <td>{fmt(m.summary.median)}</td>
              <td>{fmt(m.summary.q90)}</td>
              <td>{fmt(m.summary.min)}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <div className="maps-row">
        <label className="check">
          <input type="checkbox" checked={overlayVisible} data-testid="maps-overlay-visible" onChange={(e) => useMapStore.setState({ overlayVisible: e.target.checked })} /> overlay
        </label>
        <select value={display.colormap} data-testid="maps-colormap" onChange={(e) => setDisplay({ colormap: e.target.value as MapColormapName })}>
          {MAP_COLORMAPS.map((c) => (
            <option key={c.name} value={c.name}>
              {c.label}
            </option>
          ))}
        </select>
        <button className="btn" data-testid="maps-export" onClick={downloadShownMap} title="The shown map on the scan's grid and affine (NaN outside the preprocessed volume)">
          Export NIfTI
        </button>
      </div>
      <label className="slider">
        <span>opacity {fmt(display.opacity, 2)}</span>
        <input type="range" min={0} max={1} step={0.01} value={display.opacity} data-testid="maps-opacity" onChange={(e) => setDisplay({ opacity: Number(e.target.value) })} />
      </label>
      <label className="slider">
        <span>
          threshold {fmt(display.threshold)}{' '}
          <label className="check small">
            <input type="checkbox" checked={display.autoThreshold} onChange={(e) => setDisplay(e.target.checked ? { autoThreshold: true, ...autoRange(map) } : { autoThreshold: false })} />
            auto (90th pct → max)
          </label>
        </span>
        <input
          type="range"
          min={lo}
          max={1}
          step={0.001}
          value={display.threshold}
          data-testid="maps-threshold"
          onChange={(e) => setDisplay({ threshold: Math.min(Number(e.target.value), display.max - 1e-3), autoThreshold: false })}
        />
      </label>
      <ColorBar colormap={display.colormap} lo={display.threshold} hi={display.max} />
      <div className="maps-picture-row">
        <SlicePreviews result={result} shown={shown} />
        <AucFacts result={result} />
      </div>
    </section>
  );
}

/** How well each map picks out the clicked structure (when the scan has labels): AUC numbers beside the picture. */
function AucFacts({ result }: { result: MapResultInfo }) {
  const names = useBenchmarkStore((b) => b.labelNames);
  const auc = result.auc;
  if (!auc) return null;
  if (!auc.ok) {
    return (
      <p className="muted small" data-testid="maps-auc-none">
        Structure AUC: {auc.reason} — click inside a labelled structure.
      </p>
    );
  }
  const label = (m: MapResultInfo['maps'][number]) => (m.kind === 'current' ? `trained (step ${m.step})` : m.kind === 'initial' ? 'untrained' : m.label);
  return (
    <div className="maps-auc" data-testid="maps-auc" data-structure={auc.structure}>
      <div className="small">
        <b>{names[auc.structure] ?? `label ${auc.structure}`}</b> vs the rest of the body (HU &gt; −500), {auc.positives} voxels — AUC (0.5 = chance, 1 = perfect):
      </div>
      <table className="table maps-auc-table">
        <tbody>
          {result.maps.map((m, i) => (
            <tr key={i} data-testid="maps-auc-row" data-kind={m.kind} data-auc={auc.perMap[i]}>
              <td>{label(m)}</td>
              <td>{fmt(auc.perMap[i], 3)}</td>
            </tr>
          ))}
          <tr data-testid="maps-auc-row" data-kind="intensity" data-auc={auc.intensity}>
            <td title="similarity = −|HU − HU at the click|, per voxel">raw intensity baseline</td>
            <td>{fmt(auc.intensity, 3)}</td>
          </tr>
        </tbody>
      </table>
    </div>
  );
}

function ColorBar({ colormap, lo, hi }: { colormap: MapColormapName; lo: number; hi: number }) {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => lo + (hi - lo) * t);
  return (
    <div className="colorbar" data-testid="maps-colorbar" data-lo={lo} data-hi={hi}>
      <div className="colorbar-ramp" style={{ background: cssGradient(colormap) }} />
      <div className="colorbar-ticks">
        {ticks.map((v, i) => (
          <span key={i}>{fmt(v, 3)}</span>
        ))}
      </div>
      <div className="muted small">cosine similarity to the query · transparent at or below {fmt(lo, 3)}</div>
    </div>
  );
}

/** The scan slice through the query for each map, side by side, with the overlay as the viewer draws it. */
function SlicePreviews({ result, shown }: { result: MapResultInfo; shown: number }) {
  const volume = useDatasetStore((d) => d.volumes[result.volumeId]);
  const display = useMapStore((s) => s.display);
  if (!volume) return null;
  const q = worldToVoxel(result.scanAffine, result.query.mm);
  const k = Math.min(result.scanDims[2] - 1, Math.max(0, Math.round(q[2])));
  return (
    <div className="slice-previews" data-testid="maps-previews">
      {result.maps.map((m, i) => (
        <figure key={i} className={i === shown ? 'active' : ''} onClick={() => showMap(i)}>
          <SliceCanvas map={m} dims={result.scanDims} affine={result.scanAffine} data={volume.data} slice={k} query={q} colormap={display.colormap} lo={display.threshold} hi={display.max} opacity={display.opacity} />
          <figcaption className="small">
            {m.kind === 'current' ? `trained · step ${m.step}` : m.label} · slice {k}
          </figcaption>
        </figure>
      ))}
    </div>
  );
}

function SliceCanvas(props: {
  map: ComputedMap;
  dims: [number, number, number];
  affine: number[][];
  data: ArrayLike<number>;
  slice: number;
  query: number[];
  colormap: MapColormapName;
  lo: number;
  hi: number;
  opacity: number;
}) {
  const ref = useRef<HTMLCanvasElement>(null);
  const { map, dims, affine, data, slice, query, colormap, lo, hi, opacity } = props;
  // Like the viewer's axial view: the patient's right (+x) to the right, anterior (+y) up.
  const flipX = affine[0][0] < 0;
  const flipY = affine[1][1] > 0;
  const image = useMemo(() => {
    const [nx, ny] = dims;
    const img = new ImageData(nx, ny);
    const base = slice * nx * ny;
    for (let y = 0; y < ny; y++) {
      for (let x = 0; x < nx; x++) {
        const i = base + y * nx + x;
        const px = flipX ? nx - 1 - x : x;
        const py = flipY ? ny - 1 - y : y;
        const o = 4 * (py * nx + px);
        const g = Math.round(Math.min(1, Math.max(0, (Number(data[i]) + 160) / 400)) * 255); // soft-tissue window
        let [r, gg, b] = [g, g, g];
        const v = map.scan[i];
        if (Number.isFinite(v) && v > lo) {
          const c = colorAt(colormap, (v - lo) / Math.max(1e-6, hi - lo));
          r = Math.round(r * (1 - opacity) + c[0] * opacity);
          gg = Math.round(gg * (1 - opacity) + c[1] * opacity);
          b = Math.round(b * (1 - opacity) + c[2] * opacity);
        }
        img.data[o] = r;
        img.data[o + 1] = gg;
        img.data[o + 2] = b;
        img.data[o + 3] = 255;
      }
    }
    return img;
  }, [map, dims, data, slice, colormap, lo, hi, opacity, flipX, flipY]);

  useEffect(() => {
    const c = ref.current;
    if (!c) return;
    c.width = dims[0];
    c.height = dims[1];
    const ctx = c.getContext('2d')!;
    ctx.putImageData(image, 0, 0);
    const qx = flipX ? dims[0] - 1 - query[0] : query[0];
    const qy = flipY ? dims[1] - 1 - query[1] : query[1];
    // The query: a cyan cross with a gap, so the map under it stays visible.
    ctx.strokeStyle = 'rgb(80, 220, 255)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
      ctx.moveTo(qx + 0.5 + dx * 3, qy + 0.5 + dy * 3);
      ctx.lineTo(qx + 0.5 + dx * 9, qy + 0.5 + dy * 9);
    }
    ctx.stroke();
  }, [image, dims, query, flipX, flipY]);

  return <canvas ref={ref} className="slice-canvas" style={{ aspectRatio: `${dims[0] * Math.hypot(affine[0][0], affine[1][0], affine[2][0])} / ${dims[1] * Math.hypot(affine[0][1], affine[1][1], affine[2][1])}` }} />;
}

function BaseMatrixSection({ volumeId }: { volumeId: string | null }) {
  const matrix = useMapStore((s) => s.matrix);
  const compare = useMapStore((s) => s.compare);
  // Cosines of GAP features often sit in a narrow band: stretch the colours over the data, or show [−1, 1].
  const [fullScale, setFullScale] = useState(false);
  const running = matrix.status === 'running';
  const dataMin = Math.min(...matrix.matrices.flatMap((m) => Array.from(m.values)));
  const lo = fullScale || !Number.isFinite(dataMin) ? -1 : Math.min(dataMin, 0.999);
  const colormap: MapColormapName = fullScale ? 'cool-warm' : 'inferno';
  return (
    <section data-testid="maps-matrix" data-status={matrix.status}>
      <h3>Base-crop similarity</h3>
      <p className="muted small">
        Cosine between the embeddings of the n² base crops of the training region (n²×n², row and column k = i·n + j){compare !== 'none' ? ', beside the comparison weights' : ''}.
      </p>
      <div className="maps-row">
        <button className="btn" data-testid="maps-matrix-run" disabled={!volumeId || running} onClick={() => volumeId && void computeBaseMatrix(volumeId)}>
          {running ? 'Computing…' : 'Compute'}
        </button>
        {matrix.status === 'done' ? <span className="muted small">{matrix.regionLabel}</span> : null}
        {matrix.message ? <span className="warn small">{matrix.message}</span> : null}
      </div>
      {matrix.status === 'done' ? (
        <>
          <div className="matrix-row">
            {matrix.matrices.map((m, i) => (
              <figure key={i}>
                <MatrixHeatmap values={m.values} size={matrix.n * matrix.n} n={matrix.n} lo={lo} colormap={colormap} />
                <figcaption className="small">{m.kind === 'current' ? `trained · step ${m.step}` : m.label}</figcaption>
              </figure>
            ))}
          </div>
          <div className="colorbar">
            <div className="colorbar-ramp" style={{ background: cssGradient(colormap) }} />
            <div className="colorbar-ticks">
              {[0, 0.25, 0.5, 0.75, 1].map((t) => (
                <span key={t}>{fmt(lo + (1 - lo) * t, 3)}</span>
              ))}
            </div>
            <label className="check small">
              <input type="checkbox" checked={fullScale} data-testid="maps-matrix-fullscale" onChange={(e) => setFullScale(e.target.checked)} /> full
              scale [−1, 1] (otherwise the data&apos;s range, both matrices alike)
            </label>
          </div>
        </>
      ) : null}
    </section>
  );
}

function MatrixHeatmap({ values, size, n, lo, colormap }: { values: Float32Array; size: number; n: number; lo: number; colormap: MapColormapName }) {
  const cells = [];
  for (let a = 0; a < size; a++) {
    for (let b = 0; b < size; b++) {
      const v = values[a * size + b];
      const t = (v - lo) / Math.max(1e-6, 1 - lo);
      const [r, g, bl] = colorAt(colormap, t);
      cells.push(
        <div
          key={`${a}-${b}`}
          className="matrix-cell"
          data-testid="maps-matrix-cell"
          data-value={v}
          title={`base (${Math.floor(a / n)}, ${a % n}) · base (${Math.floor(b / n)}, ${b % n}): ${fmt(v)}`}
          style={{ background: `rgb(${r}, ${g}, ${bl})`, color: t > 0.6 ? '#111' : '#eee' }}
        >
          {size <= 9 ? fmt(v, 2).replace(/^0\./, '.').replace(/^-0\./, '-.') : ''}
        </div>,
      );
    }
  }
  return (
    <div className="matrix-grid" style={{ gridTemplateColumns: `repeat(${size}, 1fr)` }}>
      {cells}
    </div>
  );
}
