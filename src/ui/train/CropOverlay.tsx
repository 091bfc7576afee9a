// The crops of the latest step drawn on the scan in the viewer: the region (n·r × n·r × r), its n×n base-crop
// grid and the random crops, converted from PREPROCESSED voxel coordinates to world mm with the run's
// preprocessed affine, then onto NiiVue's 2-D tiles through the viewer's overlay hook. A 2-D canvas over
// NiiVue's canvas, redrawn after every NiiVue redraw (scroll, zoom, layout) and with every new step.
import { create } from 'zustand';
import type { Niivue } from '@niivue/niivue';
import { preprocessedVoxelToWorld } from '../../preprocess/preprocess';
import { useDatasetStore } from '../../store/datasetStore';
import { useRunStore, type RunVolumeGeometry } from '../../store/runStore';
import type { CropBox, StepMetrics } from '../../worker/protocol';
import { addViewOverlay } from '../viewer/niivueView';

/** A box in world mm (RAS), axis-aligned: [min, max] per axis. */
export interface WorldBox {
  min: [number, number, number];
  max: [number, number, number];
  kind: 'region' | 'base' | 'random';
  /** Index within its kind (random crop number, base index i·n + j). */
  index: number;
}

interface OverlayState {
  /** Keep showing the boxes of the step at the moment of freezing. */
  frozen: boolean;
  visible: boolean;
  /** Latest regions per volume id (a batch holds B volumes; the viewer may show any of them). */
  byVolume: Record<string, { step: number; region: StepMetrics['regions'][number] }>;
}

export const useCropOverlay = create<OverlayState>()(() => ({ frozen: false, visible: true, byVolume: {} }));

/** Voxel box [origin, origin + size) of the preprocessed grid → world box (voxel centres at integers). */
export function voxelBoxToWorld(
  geometry: Pick<RunVolumeGeometry, 'affine'>,
  origin: readonly number[],
  size: readonly number[],
): { min: [number, number, number]; max: [number, number, number] } {
  const min: [number, number, number] = [Infinity, Infinity, Infinity];
  const max: [number, number, number] = [-Infinity, -Infinity, -Infinity];
  for (let c = 0; c < 8; c++) {
    const p = [0, 1, 2].map((a) => origin[a] - 0.5 + ((c >> a) & 1 ? size[a] : 0));
    const w = preprocessedVoxelToWorld(geometry, p);
    for (let a = 0; a < 3; a++) {
      min[a] = Math.min(min[a], w[a]);
      max[a] = Math.max(max[a], w[a]);
    }
  }
  return { min, max };
}

/** All boxes of one volume's region in world mm: the region, then bases, then randoms. */
export function regionWorldBoxes(region: StepMetrics['regions'][number], geometry: Pick<RunVolumeGeometry, 'affine'>, gridN: number, cropSize: number): WorldBox[] {
  const out: WorldBox[] = [];
  const side = gridN * cropSize;
  // Whole-volume mode: boxes live on the resized copy; scale them back onto the volume.
  const k = region.scale ?? [1, 1, 1];
  const box = (o: readonly number[], size: number[]) =>
    voxelBoxToWorld(geometry, o.map((v, a) => v * k[a]), size.map((v, a) => v * k[a]));
  out.push({ ...box(region.origin, [side, side, cropSize]), kind: 'region', index: 0 });
  let bases = 0;
  let randoms = 0;
  for (const c of region.crops as CropBox[]) {
    const index = c.kind === 'base' ? bases++ : randoms++;
    out.push({ ...box(c.origin, [c.size, c.size, c.size]), kind: c.kind, index });
  }
  return out;
}

// ---- keeping the latest regions --------------------------------------------------------------------------

useRunStore.subscribe((s, prev) => {
  if (s.latest === prev.latest) return;
  if (s.runId !== prev.runId) useCropOverlay.setState({ byVolume: {} });
  if (!s.latest || useCropOverlay.getState().frozen) return;
  const byVolume = { ...useCropOverlay.getState().byVolume };
  for (const region of s.latest.regions) byVolume[region.volumeId] = { step: s.latest.step, region };
  useCropOverlay.setState({ byVolume });
});

// ---- drawing ----------------------------------------------------------------------------------------------

const COLOURS = { region: 'rgba(255, 255, 255, 0.95)', base: 'rgba(78, 161, 255, 0.85)', random: ['#f5a623', '#ff5fa2', '#5fd38d', '#c792ea', '#ffd166', '#7fdbff'] };

interface Tile {
  ltwh: number[];
  axCorSag: number;
  /** Depth of the slice plane in the tile's screen-space mm (axial z, coronal y, sagittal x). */
  depth: number;
  leftTopMM: number[];
  fovMM: number[];
}

/** World box → the (horizontal, vertical, depth) axes of a NiiVue tile: axial x,y|z; coronal x,z|y; sagittal y,z|x. */
const TILE_AXES: Record<number, [number, number, number]> = { 0: [0, 1, 2], 1: [0, 2, 1], 2: [1, 2, 0] };

let overlayCanvas: HTMLCanvasElement | null = null;

/** The view the overlay last drew on: new boxes redraw only our layer, not NiiVue (a full WebGL redraw). */
let lastView: { nv: Niivue; canvas: HTMLCanvasElement } | null = null;

function drawOverlay(nv: Niivue, canvas: HTMLCanvasElement): void {
  lastView = { nv, canvas };
  const { visible, byVolume } = useCropOverlay.getState();
  const run = useRunStore.getState();
  const selected = useDatasetStore.getState().selectedId;
  const layer = ensureLayer(canvas);
  const ctx = layer.getContext('2d');
  if (!ctx) return;
  ctx.clearRect(0, 0, layer.width, layer.height);
  const entry = selected ? byVolume[selected] : undefined;
  const geometry = selected ? run.geometry[selected] : undefined;
  let drawn = 0;
  if (visible && entry && geometry && run.config) {
    const boxes = regionWorldBoxes(entry.region, geometry, run.config.gridN, run.config.cropSize);
    const tiles = (nv.screenSlices as unknown as { leftTopWidthHeight: number[]; axCorSag: number; AxyzMxy: number[]; leftTopMM: number[]; fovMM: number[] }[])
      .filter((s) => s.axCorSag <= 2 && s.AxyzMxy?.length >= 3 && s.leftTopMM && s.fovMM)
      .map((s): Tile => ({ ltwh: s.leftTopWidthHeight, axCorSag: s.axCorSag, depth: s.AxyzMxy[2], leftTopMM: s.leftTopMM, fovMM: s.fovMM }));
    for (const tile of tiles) drawn += drawTile(ctx, tile, boxes);
    layer.dataset.step = String(entry.step);
  } else {
    delete layer.dataset.step;
  }
  layer.dataset.boxes = String(drawn);
  layer.dataset.volume = entry ? (selected ?? '') : '';
}

/** Draws the boxes on one tile; returns how many were drawn. Boxes cut by the slice are solid, others dashed. */
function drawTile(ctx: CanvasRenderingContext2D, tile: Tile, boxes: WorldBox[]): number {
  const [h, v, d] = TILE_AXES[tile.axCorSag];
  let [left, top, width, height] = tile.ltwh;
  const mirror = width < 0;
  if (mirror) {
    left += width;
    width = -width;
  }
  const toScreen = (mmH: number, mmV: number): [number, number] => {
    let fx = (mmH - tile.leftTopMM[0]) / tile.fovMM[0];
    const fy = (mmV - tile.leftTopMM[1]) / tile.fovMM[1];
    if (mirror) fx = 1 - fx;
    return [left + fx * width, top + (1 - fy) * height];
  };
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  let count = 0;
  for (const b of boxes) {
    const cut = tile.depth >= b.min[d] && tile.depth <= b.max[d];
    const [x0, y0] = toScreen(b.min[h], b.min[v]);
    const [x1, y1] = toScreen(b.max[h], b.max[v]);
    const colour = b.kind === 'random' ? COLOURS.random[b.index % COLOURS.random.length] : COLOURS[b.kind];
    ctx.strokeStyle = colour;
    ctx.globalAlpha = cut ? 1 : 0.45;
    ctx.lineWidth = b.kind === 'region' ? 2 : b.kind === 'random' ? 2 : 1;
    ctx.setLineDash(cut ? [] : [4, 4]);
    ctx.strokeRect(Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0));
    if (b.kind === 'random' && cut) {
      ctx.fillStyle = colour;
      ctx.font = `${Math.max(10, Math.round(height / 40))}px system-ui, sans-serif`;
      ctx.fillText(String(b.index), Math.min(x0, x1) + 3, Math.min(y0, y1) + 12);
    }
    count++;
  }
  ctx.restore();
  return count;
}

/** A 2-D canvas exactly over NiiVue's canvas (same pixel grid), ignoring the pointer. */
function ensureLayer(canvas: HTMLCanvasElement): HTMLCanvasElement {
  const parent = canvas.parentElement!;
  if (!overlayCanvas || overlayCanvas.parentElement !== parent) {
    overlayCanvas?.remove();
    overlayCanvas = document.createElement('canvas');
    overlayCanvas.dataset.testid = 'crop-overlay';
    overlayCanvas.style.position = 'absolute';
    overlayCanvas.style.pointerEvents = 'none';
    parent.appendChild(overlayCanvas);
  }
  const layer = overlayCanvas;
  if (layer.width !== canvas.width) layer.width = canvas.width;
  if (layer.height !== canvas.height) layer.height = canvas.height;
  const s = layer.style;
  const left = `${canvas.offsetLeft}px`;
  const top = `${canvas.offsetTop}px`;
  if (s.left !== left) s.left = left;
  if (s.top !== top) s.top = top;
  const w = `${canvas.clientWidth}px`;
  const hgt = `${canvas.clientHeight}px`;
  if (s.width !== w) s.width = w;
  if (s.height !== hgt) s.height = hgt;
  return layer;
}

// Registered once per page: the overlay lives as long as the viewer, whichever tab is open.
const overlay = addViewOverlay(drawOverlay);

// New boxes, a different volume in the viewer, or a toggle: redraw.
let frame = 0;
const requestRedraw = () => {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    const v = lastView;
    if (v && v.nv.canvas === v.canvas && v.canvas.isConnected) drawOverlay(v.nv, v.canvas);
    else overlay.redraw();
  });
};
useCropOverlay.subscribe(requestRedraw);
useDatasetStore.subscribe((s, prev) => {
  if (s.selectedId !== prev.selectedId) requestRedraw();
});

/** Moves the viewer's crosshair to the centre of the shown region, so every view cuts through its crops. */
export function centreViewerOnRegion(): boolean {
  const { byVolume } = useCropOverlay.getState();
  const run = useRunStore.getState();
  const selected = useDatasetStore.getState().selectedId;
  const entry = selected ? byVolume[selected] : undefined;
  const geometry = selected ? run.geometry[selected] : undefined;
  if (!entry || !geometry || !run.config) return false;
  const side = run.config.gridN * run.config.cropSize;
  const k = entry.region.scale ?? [1, 1, 1];
  const { min, max } = voxelBoxToWorld(
    geometry,
    entry.region.origin.map((v, a) => v * k[a]),
    [side * k[0], side * k[1], run.config.cropSize * k[2]],
  );
  const centre = [0, 1, 2].map((a) => (min[a] + max[a]) / 2);
  for (const nv of overlay.views()) {
    nv.scene.crosshairPos = nv.mm2frac(centre as [number, number, number]);
    nv.drawScene();
    nv.createOnLocationChange();
  }
  return true;
}

// ---- the panel's controls -------------------------------------------------------------------------------

export function CropOverlayControls() {
  const { frozen, visible, byVolume } = useCropOverlay();
  const selected = useDatasetStore((s) => s.selectedId);
  const latest = useRunStore((s) => s.latest);
  const names = useRunStore((s) => s.geometry);
  const shown = selected ? byVolume[selected] : undefined;
  const batchVolumes = latest?.regions.map((r) => r.volumeId) ?? [];
  return (
    <section className="train-section" data-testid="crop-overlay-controls">
      <h3>Crops on the scan</h3>
      <div className="control-row">
        <label>
          <input type="checkbox" checked={visible} onChange={(e) => useCropOverlay.setState({ visible: e.target.checked })} data-testid="toggle-crops" /> show
        </label>
        <label title="Keep the boxes of the current step while training goes on">
          <input type="checkbox" checked={frozen} onChange={(e) => useCropOverlay.setState({ frozen: e.target.checked })} data-testid="toggle-freeze" /> freeze
        </label>
        <button data-testid="btn-centre-region" disabled={!shown} onClick={() => centreViewerOnRegion()}>
          centre on region
        </button>
        <span className="legend">
          <i className="sw-region" /> region <i className="sw-base" /> base crops <i className="sw-random" /> random crops
        </span>
      </div>
      <p className="muted">
        {shown
          ? `Viewer shows step ${shown.step} on ${names[selected!]?.name ?? selected}.`
          : latest
            ? 'The scan in the viewer is not part of this run yet.'
            : 'Boxes appear with the first training step.'}{' '}
        {batchVolumes.filter((id) => id !== selected).map((id) => (
          <button key={id} className="link" data-testid="btn-show-batch-volume" onClick={() => useDatasetStore.getState().select(id)}>
            show {names[id]?.name ?? id}
          </button>
        ))}
      </p>
    </section>
  );
}
