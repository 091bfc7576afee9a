// Putting a label map onto its scan's grid and merging it with the scan's labels: loops over every voxel
// (seconds for a 512×512×200 pair), so they run in a worker (pairLabels.worker.ts) and the page stays responsive.
import { countIds, labelOverlap, labelsOnScanGrid, mergeLabels, OVERLAP_KEEP_APART, type GridMapping, type LabelArray } from './labels';
import type { VoxelArray } from '../volume/volume';

export interface PairRequest {
  id: number;
  labelData: VoxelArray;
  labelDims: [number, number, number];
  scanDims: [number, number, number];
  mapping: GridMapping;
  /** The scan's labels so far (a copy), if any. */
  existing?: LabelArray;
}

export interface PairResult {
  id: number;
  /** The label map on the scan's voxel grid. */
  onGrid: LabelArray;
  onGridIds: number;
  overlap: { both: number; incoming: number; existing: number } | null;
  /** Overlap as a share of the smaller map's labelled voxels. */
  share: number;
  /** Set when the maps may be merged (no overlap above OVERLAP_KEEP_APART). */
  merged?: { labels: LabelArray; ids: number; assignedId: number | null; firstId: number; lastId: number; shifted: boolean };
}

export function pairLabels(req: PairRequest): PairResult {
  const onGrid = labelsOnScanGrid(req.labelData, req.labelDims, req.scanDims, req.mapping);
  const overlap = req.existing ? labelOverlap(req.existing, onGrid) : null;
  const share = overlap ? overlap.both / Math.max(1, Math.min(overlap.incoming, overlap.existing)) : 0;
  const out: PairResult = { id: req.id, onGrid, onGridIds: countIds(onGrid), overlap, share };
  if (share <= OVERLAP_KEEP_APART) {
    const m = mergeLabels(req.existing, onGrid);
    out.merged = { ...m, ids: m.labels === onGrid ? out.onGridIds : countIds(m.labels) };
  }
  return out;
}
