// The similarity-maps store: the query, the job's progress, the maps (on the preprocessed grid and on the source
// scan) and how they are drawn. Plain data and setters; src/ui/maps/mapActions.ts does the work.
import { create } from 'zustand';
import type { MapWeights, MapWindowGrid } from '../worker/protocol';

export type MapJobStatus = 'idle' | 'running' | 'done' | 'cancelled' | 'error';

/** The query crop: where the user clicked (or which base crop), in world mm and as a crop of the preprocessed grid. */
export interface MapQuery {
  volumeId: string;
  /** The clicked point (or the base crop's centre), world mm (RAS). */
  mm: [number, number, number];
  /** Origin of the query crop on the preprocessed grid. */
  origin: [number, number, number];
  source: 'click' | 'base';
  /** "click at …" or "base crop (i, j)". */
  label: string;
}

export interface MapSummary {
  min: number;
  max: number;
  mean: number;
  median: number;
  q75: number;
  q90: number;
}

/** One map of the last job (one per weights). Arrays are owned by the store; never mutated after set. */
export interface ComputedMap {
  kind: MapWeights['kind'];
  label: string;
  step: number;
  /** Per-window cosines (grid order) and the same on the preprocessed grid and on the source scan (NaN outside). */
  windows: Float32Array;
  preprocessed: Float32Array;
  scan: Float32Array;
  /** Over the scan voxels that have a value. */
  summary: MapSummary;
  /** Map value at the clicked point (on the scan grid). */
  atQuery: number;
}

export interface MapResultInfo {
  volumeId: string;
  volumeName: string;
  query: MapQuery;
  /** 'tiles' (non-overlapping r³ windows tiling the volume) or 'sliding'. */
  layout: 'sliding' | 'tiles';
  grid: MapWindowGrid;
  windows: number;
  embedDim: number;
  backend: string;
  ms: number;
  /** Geometry of the two grids the map lives on. */
  preprocessedDims: [number, number, number];
  preprocessedAffine: number[][];
  scanDims: [number, number, number];
  scanAffine: number[][];
  maps: ComputedMap[];
  /**
   * When the scan has a label map: how well each map picks out the clicked structure (src/eval/mapAuc.ts) — AUC of
   * structure vs the rest of the body per map (same order as `maps`) and for the raw-intensity baseline; or why not.
   */
  auc?: { ok: true; structure: number; perMap: number[]; intensity: number; positives: number } | { ok: false; reason: string };
}

export interface MapDisplay {
  colormap: 'inferno' | 'viridis' | 'hot' | 'cool-warm';
  /** 0…1. */
  opacity: number;
  /** Voxels at or below are transparent; the colour range runs from here to `max`. */
  threshold: number;
  max: number;
  /** Threshold follows the shown map (its 90th percentile) until the user moves the slider. */
  autoThreshold: boolean;
}

export interface BaseMatrix {
  status: 'idle' | 'running' | 'done' | 'error';
  n: number;
  volumeId: string | null;
  regionLabel: string;
  matrices: { kind: MapWeights['kind']; label: string; step: number; values: Float32Array }[];
  message: string | null;
}

export interface MapStoreState {
  status: MapJobStatus;
  progress: { done: number; total: number } | null;
  message: string | null;
  query: MapQuery | null;
  /** Window step in voxels; null = the default, r/4. */
  stride: number | null;
  /** Window layout; null = automatic (tiles for the reference encoder, whose crops cost seconds on a CPU; sliding otherwise). */
  layout: 'sliding' | 'tiles' | null;
  /** When the running job started (performance.now()), for the elapsed time and the estimate of what is left. */
  startedAt: number | null;
  /** Measured ms per embedded crop of finished maps, by `preset|r|backend`: the next map's time estimate. */
  msPerCrop: Record<string, number>;
  /** Compute a second map with other weights: none, the untrained initial weights, or a saved run's checkpoint. */
  compare: 'none' | 'initial' | `run:${string}`;
  /** A click on the viewer starts a map. */
  mapOnClick: boolean;
  result: MapResultInfo | null;
  /** Which of result.maps the viewer shows. */
  shown: number;
  /** Overlay on the viewer at all. */
  overlayVisible: boolean;
  display: MapDisplay;
  matrix: BaseMatrix;
}

export const initialMapState: MapStoreState = {
  status: 'idle',
  progress: null,
  message: null,
  query: null,
  stride: null,
  layout: null,
  startedAt: null,
  msPerCrop: {},
  compare: 'initial',
  mapOnClick: true,
  result: null,
  shown: 0,
  overlayVisible: true,
  display: { colormap: 'inferno', opacity: 0.6, threshold: 0.5, max: 1, autoThreshold: true },
  matrix: { status: 'idle', n: 0, volumeId: null, regionLabel: '', matrices: [], message: null },
};

export const useMapStore = create<MapStoreState>()(() => ({ ...initialMapState }));

export function setDisplay(patch: Partial<MapDisplay>): void {
  useMapStore.setState((s) => ({ display: { ...s.display, ...patch } }));
}
