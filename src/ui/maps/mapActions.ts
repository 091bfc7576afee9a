// What the Maps tab does: turn a click (or a base crop) into a query crop of the run's preprocessed volume, ask the
// training worker for the map (src/worker/mapHandler.ts), assemble it onto the source scan (src/eval), keep it in
// the map store, lay it over the viewer, export it. Not React; the panel calls these and draws the store.
import { cropCentre, cropOriginNear, defaultStride, mapGrid, mapStats, mapToScan, sampleAt, windowCount, type MapLayout } from '../../eval/similarityMap';
import { forwardFlops } from '../../model/flops';
import { PRESETS, isSwinPreset } from '../../model/presets';
import { mapNiftiGz } from '../../eval/niftiExport';
import { mapAuc } from '../../eval/mapAuc';
import { voxelToWorld, worldToVoxel } from '../../preprocess/geometry';
import { loadRun } from '../../persist/checkpoints';
import { useDatasetStore } from '../../store/datasetStore';
import { useMapStore, type ComputedMap, type MapQuery, type MapResultInfo } from '../../store/mapStore';
import { useRunStore } from '../../store/runStore';
import type { EmbedCrop, FromWorker, MapWeights, SimilarityMapResult } from '../../worker/protocol';
import { downloadBytes } from '../train/download';
import { trainingController } from '../train/trainingController';
import { setMapLayer, viewerMapLayers } from './viewerLayer';

type Vec3 = [number, number, number];
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));
const fmt = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '–');

/** Why no map can be made now (null when one can). */
export function mapsUnavailable(): string | null {
  const run = useRunStore.getState();
  const usable = run.config && ['ready', 'running', 'paused', 'stopped', 'done'].includes(run.phase);
  if (!usable || !trainingController.workerClient) {
    return 'Maps embed crops with the encoder of the run in the Train tab: start (or resume) a run first.';
  }
  return null;
}

/** The run's crop size, or null. */
export function runCropSize(): number | null {
  return useRunStore.getState().config?.cropSize ?? null;
}

/** The stride in use (the store's, or r/4). */
export function effectiveStride(): number | null {
  const r = runCropSize();
  return r == null ? null : (useMapStore.getState().stride ?? defaultStride(r));
}

/** The window layout in use: the store's, or tiles for the reference encoder (seconds per crop on a CPU), else sliding. */
export function effectiveLayout(): MapLayout {
  const chosen = useMapStore.getState().layout;
  if (chosen) return chosen;
  const preset = useRunStore.getState().config?.preset;
  return preset && PRESETS[preset] && isSwinPreset(PRESETS[preset]) ? 'tiles' : 'sliding';
}

/** Key of the measured ms per crop: preset, crop size and backend. */
function rateKey(): string | null {
  const run = useRunStore.getState();
  if (!run.config) return null;
  return `${run.config.preset}|${run.config.cropSize}|${run.backend?.name ?? '?'}`;
}

export interface MapPlan {
  layout: MapLayout;
  stride: number;
  windows: number;
  /** Maps computed (the run's weights, plus the comparison). */
  maps: number;
  /** Crops embedded: every window and the query, per map. */
  crops: number;
  /** Encoder matmul/convolution GFLOP of all of them (src/model/flops.ts). */
  gflop: number;
  /** ms per crop measured by an earlier map of this preset, crop size and backend; null before the first. */
  msPerCrop: number | null;
  estimateMs: number | null;
  backend: string | null;
}

/** What a map of this volume costs before it starts (windows of a centred query for 'sliding'). */
export function mapPlan(volumeId: string | null, queryOrigin?: readonly number[]): MapPlan | null {
  const run = useRunStore.getState();
  const cfg = run.config;
  const geometry = volumeId ? run.geometry[volumeId] : undefined;
  if (!cfg || !geometry || !PRESETS[cfg.preset]) return null;
  const r = cfg.cropSize;
  const layout = effectiveLayout();
  const stride = layout === 'tiles' ? r : (effectiveStride() ?? defaultStride(r));
  let windows: number;
  try {
    windows = windowCount(mapGrid(geometry.dims, r, layout, stride, queryOrigin));
  } catch {
    return null;
  }
  const s = useMapStore.getState();
  const maps = s.compare === 'none' ? 1 : 2;
  const crops = (windows + 1) * maps;
  const f = forwardFlops(PRESETS[cfg.preset], r);
  const key = rateKey();
  const msPerCrop = key ? (s.msPerCrop[key] ?? null) : null;
  return { layout, stride, windows, maps, crops, gflop: (crops * (f.patchEmbed + f.blocks)) / 1e9, msPerCrop, estimateMs: msPerCrop == null ? null : msPerCrop * crops, backend: run.backend?.name ?? null };
}

/** A query crop centred as near as possible to a world point of a run volume, or a message why not. */
export function queryAtPoint(volumeId: string, mm: Vec3): MapQuery | string {
  const run = useRunStore.getState();
  const geometry = run.geometry[volumeId];
  const r = run.config?.cropSize;
  const name = useDatasetStore.getState().volumes[volumeId]?.name ?? volumeId;
  if (!geometry || !r || !run.config?.volumeIds.includes(volumeId)) return `${name} is not one of the run's volumes: select a scan of the run to map it.`;
  const p = worldToVoxel(geometry.affine, mm);
  if (p.some((v, a) => v < -0.5 || v > geometry.dims[a] - 0.5)) {
    return `The point (${mm.map((v) => fmt(v)).join(', ')}) mm lies outside ${name}'s preprocessed volume (background cropped away): click inside the body.`;
  }
  const origin = cropOriginNear(p, r);
  return { volumeId, mm, origin, source: 'click', label: `point (${mm.map((v) => fmt(v)).join(', ')}) mm` };
}

/** The n² base crops (index i·n + j, i along x) of the newest training region of a volume, or of its centre region. */
export function baseCrops(volumeId: string): { origins: Vec3[]; n: number; label: string } | string {
  const run = useRunStore.getState();
  const geometry = run.geometry[volumeId];
  const cfg = run.config;
  if (!geometry || !cfg || !cfg.volumeIds.includes(volumeId)) return 'Select a scan of the run.';
  const n = cfg.gridN;
  const r = cfg.cropSize;
  const region = run.latest?.regions.find((g) => g.volumeId === volumeId);
  const bases = region?.crops.filter((c) => c.kind === 'base') ?? [];
  if (region && bases.length === n * n) {
    return { origins: bases.map((c) => [...c.origin] as Vec3), n, label: `region of step ${run.latest!.step} (crops without their augmentation)` };
  }
  // No step of this volume yet: the region centred in the volume, laid out like the planner's (i along x, j along y).
  const start = [0, 1, 2].map((a) => Math.floor((geometry.dims[a] - (a < 2 ? n * r : r)) / 2));
  const origins: Vec3[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) origins.push([start[0] + i * r, start[1] + j * r, start[2]]);
  return { origins, n, label: 'centre region (no training step on this volume yet)' };
}

/** The query of base crop k of the region. */
export function queryAtBase(volumeId: string, k: number): MapQuery | string {
  const crops = baseCrops(volumeId);
  const geometry = useRunStore.getState().geometry[volumeId];
  const r = runCropSize();
  if (typeof crops === 'string' || !geometry || !r) return typeof crops === 'string' ? crops : 'No run.';
  const origin = crops.origins[k];
  const mm = voxelToWorld(geometry.affine, cropCentre(origin, r));
  const i = Math.floor(k / crops.n);
  const j = k % crops.n;
  return { volumeId, mm, origin, source: 'base', label: `base crop (${i}, ${j}) of the ${crops.label.split(' (')[0]}` };
}

// ---- the map job ------------------------------------------------------------------------------------------

let active: { requestId: number; off: () => void } | null = null;
/** The newest job: answers of older (cancelled, superseded) jobs no longer touch the store. */
let latestRequest = 0;

async function compareWeights(): Promise<MapWeights[]> {
  const compare = useMapStore.getState().compare;
  if (compare === 'none') return [];
  if (compare === 'initial') return [{ kind: 'initial' }];
  const id = compare.slice(4);
  const saved = await loadRun(id);
  return [{ kind: 'checkpoint', label: `${saved.meta.name} · step ${saved.state.step}`, step: saved.state.step, weights: saved.state.weights }];
}

/** Starts a map for the query (cancelling a running one). Resolves when the job has ended, however it ended. */
export async function startMap(query: MapQuery): Promise<void> {
  const why = mapsUnavailable();
  const client = trainingController.workerClient;
  if (why || !client) {
    useMapStore.setState({ status: 'error', message: why });
    return;
  }
  cancelMap();
  const layout = effectiveLayout();
  const stride = layout === 'tiles' ? runCropSize()! : effectiveStride()!;
  const key = rateKey();
  const requestId = client.newRequestId();
  latestRequest = requestId;
  const mine = () => latestRequest === requestId;
  useMapStore.setState({ status: 'running', progress: { done: 0, total: 0 }, message: null, query, startedAt: performance.now() });
  let weights: MapWeights[];
  try {
    weights = [{ kind: 'current' }, ...(await compareWeights())];
  } catch (err) {
    if (mine()) useMapStore.setState({ status: 'error', message: `Could not load the comparison checkpoint: ${errorText(err)}` });
    return;
  }
  if (!mine()) return; // another query came in while the checkpoint loaded
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const finish = () => {
      off();
      if (active?.requestId === requestId) active = null;
      resolve();
    };
    const off = client.onAny((msg: FromWorker) => {
      if (!('requestId' in msg) || msg.requestId !== requestId) return;
      if (!mine()) {
        // Superseded: wait for its end quietly.
        if (msg.type === 'map-result' || msg.type === 'map-cancelled' || msg.type === 'error') finish();
        return;
      }
      if (msg.type === 'map-progress') {
        useMapStore.setState({ progress: { done: msg.done, total: msg.total } });
      } else if (msg.type === 'map-result') {
        try {
          const info = assemble(msg.result, query, layout, performance.now() - t0);
          const keep = useMapStore.getState();
          const display = keep.display.autoThreshold ? { ...keep.display, ...autoRange(info.maps[0]) } : keep.display;
          const total = info.windows * info.maps.length;
          // Every window and the query, per map: the next map's estimate.
          const msPerCrop = key ? { ...keep.msPerCrop, [key]: info.ms / ((info.windows + 1) * info.maps.length) } : keep.msPerCrop;
          useMapStore.setState({ status: 'done', result: info, shown: 0, progress: { done: total, total }, display, msPerCrop, startedAt: null });
        } catch (err) {
          useMapStore.setState({ status: 'error', message: `The map came back but could not be placed on the scan: ${errorText(err)}` });
        }
        finish();
      } else if (msg.type === 'map-cancelled') {
        useMapStore.setState({ status: 'cancelled', message: `Cancelled after ${msg.done} of ${msg.total} windows.`, progress: { done: msg.done, total: msg.total } });
        finish();
      } else if (msg.type === 'error') {
        useMapStore.setState({ status: 'error', message: msg.message });
        finish();
      }
    });
    active = { requestId, off };
    client.post({
      type: 'similarity-map',
      requestId,
      request: { volumeId: query.volumeId, origin: query.origin, stride, layout, weights },
    });
  });
}

/** Asks the worker to stop the running job at its next batch (the store says 'cancelled' once it has). */
export function cancelMap(): void {
  if (!active) return;
  trainingController.workerClient?.post({ type: 'cancel-map', requestId: active.requestId });
  useMapStore.setState({ message: 'Cancelling…' });
}

/** Per-window cosines → the preprocessed grid → the source scan; statistics over the scan's voxels. */
function assemble(result: SimilarityMapResult, query: MapQuery, layout: MapLayout, wallMs: number): MapResultInfo {
  const volume = useDatasetStore.getState().volumes[result.volumeId];
  const geometry = useRunStore.getState().geometry[result.volumeId];
  if (!volume || !geometry) throw new Error(`volume ${result.volumeId} is no longer loaded`);
  const scanGrid = { dims: volume.dims, affine: volume.affine };
  const queryOnScan = worldToVoxel(volume.affine, query.mm);
  const maps: ComputedMap[] = result.maps.map((m) => {
    const { preprocessed, scan } = mapToScan(m.values, result.grid, geometry, scanGrid);
    const s = mapStats(scan, [0.5, 0.75, 0.9]);
    return {
      kind: m.kind,
      label: m.label,
      step: m.step,
      windows: m.values,
      preprocessed,
      scan,
      summary: { min: s.min, max: s.max, mean: s.mean, median: s.quantiles[0], q75: s.quantiles[1], q90: s.quantiles[2] },
      atQuery: sampleAt(scan, volume.dims, queryOnScan),
    };
  });
  return {
    auc: volume.labels ? structureAuc(maps, volume.data, volume.labels, volume.dims, queryOnScan) : undefined,
    volumeId: result.volumeId,
    volumeName: volume.name,
    query,
    layout,
    grid: result.grid,
    windows: result.grid.counts[0] * result.grid.counts[1] * result.grid.counts[2],
    embedDim: result.embedDim,
    backend: result.backend,
    ms: Math.max(result.ms, 0) || wallMs,
    preprocessedDims: geometry.dims,
    preprocessedAffine: geometry.affine,
    scanDims: volume.dims,
    scanAffine: volume.affine,
    maps,
  };
}

/** AUC of each map (and of raw intensity) for the structure under the click, on the scan's grid. */
function structureAuc(maps: ComputedMap[], hu: ArrayLike<number>, labels: ArrayLike<number>, dims: Vec3, click: number[]): MapResultInfo['auc'] {
  const perMap: number[] = [];
  let first: Extract<ReturnType<typeof mapAuc>, { ok: true }> | null = null;
  for (const m of maps) {
    const a = mapAuc({ map: m.scan, labels, hu, dims, click });
    if (!a.ok) return { ok: false, reason: a.reason };
    first ??= a;
    perMap.push(a.auc);
  }
  if (!first) return { ok: false, reason: 'no map' };
  return { ok: true, structure: first.structure, perMap, intensity: first.intensityAuc, positives: first.positives };
}

/** The automatic colour range of a map: from its 90th percentile (the most similar tenth of the scan) to its maximum. */
export function autoRange(m: ComputedMap): { threshold: number; max: number } {
  const max = Number.isFinite(m.summary.max) ? m.summary.max : 1;
  let threshold = Number.isFinite(m.summary.q90) ? m.summary.q90 : 0.5;
  if (!(threshold < max)) threshold = max - 1e-3;
  return { threshold, max };
}

/** Switches the overlay between the maps of the last job. */
export function showMap(index: number): void {
  const s = useMapStore.getState();
  if (!s.result?.maps[index]) return;
  const display = s.display.autoThreshold ? { ...s.display, ...autoRange(s.result.maps[index]) } : s.display;
  useMapStore.setState({ shown: index, display });
}

// ---- the base-crop matrix -------------------------------------------------------------------------------------

export async function computeBaseMatrix(volumeId: string): Promise<void> {
  const client = trainingController.workerClient;
  const why = mapsUnavailable();
  const crops = baseCrops(volumeId);
  if (why || !client || typeof crops === 'string') {
    useMapStore.setState((s) => ({ matrix: { ...s.matrix, status: 'error', message: why ?? (typeof crops === 'string' ? crops : 'no worker') } }));
    return;
  }
  useMapStore.setState((s) => ({ matrix: { ...s.matrix, status: 'running', message: null, n: crops.n, volumeId, regionLabel: crops.label } }));
  try {
    const weights: MapWeights[] = [{ kind: 'current' }, ...(await compareWeights())];
    const requestId = client.newRequestId();
    const embedCrops: EmbedCrop[] = crops.origins.map((origin) => ({ volumeId, origin }));
    const answer = await new Promise<Extract<FromWorker, { type: 'crop-similarity-result' }>>((resolve, reject) => {
      const off = client.onAny((msg) => {
        if (!('requestId' in msg) || msg.requestId !== requestId) return;
        if (msg.type === 'crop-similarity-result') {
          off();
          resolve(msg);
        } else if (msg.type === 'error') {
          off();
          reject(new Error(msg.message));
        }
      });
      client.post({ type: 'crop-similarity', requestId, crops: embedCrops, weights });
    });
    useMapStore.setState((s) => ({ matrix: { ...s.matrix, status: 'done', matrices: answer.matrices } }));
  } catch (err) {
    useMapStore.setState((s) => ({ matrix: { ...s.matrix, status: 'error', message: errorText(err) } }));
  }
}

// ---- export -------------------------------------------------------------------------------------------------

/** The shown map as .nii.gz on the source scan's grid and affine (NaN where the map has no value). */
export function exportShownMap(): { name: string; bytes: Uint8Array } | null {
  const s = useMapStore.getState();
  const info = s.result;
  const map = info?.maps[s.shown];
  if (!info || !map) return null;
  const base = info.volumeName.replace(/\.(nii(\.gz)?|nrrd|mha|mhd|dcm)$/i, '').replace(/[^\w.-]+/g, '_');
  const which = map.kind === 'current' ? `step${map.step}` : map.kind === 'initial' ? 'untrained' : `ckpt-step${map.step}`;
  const mm = info.query.mm.map((v) => Math.round(v)).join('_');
  const description = `VoCo cosine map ${which} r${info.grid.r} s${info.grid.stride} q(${mm})mm`;
  const bytes = mapNiftiGz({ dims: info.scanDims, affine: info.scanAffine, data: map.scan, description, calRange: [s.display.threshold, s.display.max] });
  return { name: `${base}_similarity_${which}_${mm}.nii.gz`, bytes };
}

export function downloadShownMap(): void {
  const file = exportShownMap();
  if (file) downloadBytes(file.bytes, file.name, 'application/gzip');
}

// ---- the viewer layer follows the store ------------------------------------------------------------------------

function syncLayer(): void {
  const s = useMapStore.getState();
  const info = s.result;
  const map = info?.maps[s.shown];
  const selected = useDatasetStore.getState().selectedId;
  if (!info || !map || !s.overlayVisible) {
    void setMapLayer(null, selected);
    return;
  }
  void setMapLayer(
    {
      dataKey: `${info.volumeId}|${info.query.origin.join(',')}|${info.grid.stride}|${s.shown}|${info.ms}`,
      volumeId: info.volumeId,
      name: `similarity-${map.kind}`,
      dims: info.scanDims,
      affine: info.scanAffine,
      data: map.scan,
      colormap: s.display.colormap,
      opacity: s.display.opacity,
      calMin: s.display.threshold,
      calMax: Math.max(s.display.max, s.display.threshold + 1e-4),
    },
    selected,
  );
}

let layerSubscribed = false;
/** Keeps the viewer's map layer in step with the map store and the selected scan (idempotent). */
export function followStoreWithLayer(): void {
  if (layerSubscribed) return;
  layerSubscribed = true;
  useMapStore.subscribe((s, prev) => {
    if (s.result !== prev.result || s.shown !== prev.shown || s.display !== prev.display || s.overlayVisible !== prev.overlayVisible) syncLayer();
  });
  useDatasetStore.subscribe((s, prev) => {
    if (s.selectedId !== prev.selectedId) syncLayer();
  });
  syncLayer();
}

// ---- debug hook for tests ---------------------------------------------------------------------------------------

/** window.__vocoMaps: read the maps back in browser tests (values, where the maximum is, what the viewer holds). */
export function installDebugHook(): void {
  (window as unknown as { __vocoMaps: unknown }).__vocoMaps = {
    /** Maps the point `mm` (world, RAS) of a run volume, as a click there would; resolves when the job ends. */
    mapAt: async (volumeId: string, mm: [number, number, number]) => {
      const q = queryAtPoint(volumeId, mm);
      if (typeof q === 'string') throw new Error(q);
      await startMap(q);
    },
    auc: () => useMapStore.getState().result?.auc ?? null,
    state: () => {
      const s = useMapStore.getState();
      return {
        status: s.status,
        progress: s.progress,
        message: s.message,
        query: s.query,
        shown: s.shown,
        display: s.display,
        result: s.result && {
          volumeId: s.result.volumeId,
          grid: s.result.grid,
          windows: s.result.windows,
          backend: s.result.backend,
          ms: s.result.ms,
          embedDim: s.result.embedDim,
          scanDims: s.result.scanDims,
          maps: s.result.maps.map((m) => {
            const dims = s.result!.scanDims;
            let argmax = -1;
            let max = -Infinity;
            for (let i = 0; i < m.scan.length; i++) if (m.scan[i] > max) [max, argmax] = [m.scan[i], i];
            const maxVoxel = [argmax % dims[0], Math.floor(argmax / dims[0]) % dims[1], Math.floor(argmax / (dims[0] * dims[1]))];
            return {
              kind: m.kind, label: m.label, step: m.step, summary: m.summary, atQuery: m.atQuery,
              maxVoxel, maxMm: voxelToWorld(s.result!.scanAffine, maxVoxel),
              windowValues: { min: Math.min(...m.windows), max: Math.max(...m.windows) },
            };
          }),
        },
        matrix: { status: s.matrix.status, n: s.matrix.n, message: s.matrix.message, matrices: s.matrix.matrices.map((m) => ({ label: m.label, values: Array.from(m.values) })) },
      };
    },
    /** The shown map's value at a world point (trilinear on the scan grid). */
    valueAtMm: (mm: Vec3, which?: number) => {
      const s = useMapStore.getState();
      const m = s.result?.maps[which ?? s.shown];
      return m ? sampleAt(m.scan, s.result!.scanDims, worldToVoxel(s.result!.scanAffine, mm)) : NaN;
    },
    layers: () => viewerMapLayers(),
  };
}
