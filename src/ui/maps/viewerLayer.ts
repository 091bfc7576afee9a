// The similarity map as a layer of the studio's NiiVue viewer, and clicks on the viewer as map queries, through
// the viewer's public overlay hook (addViewOverlay in src/ui/viewer/niivueView.ts) only: no change to the viewer.
// The map is a float NIfTI on the source scan's grid and affine; NiiVue reslices it onto whatever the viewer shows
// (the scan, or its preprocessed version). It is shown only while its scan is the selected one.
import { NVImage, type Niivue } from '@niivue/niivue';
import { niftiBytes } from '../../ingest/niftiWrite';
import { addViewOverlay } from '../viewer/niivueView';
import { niivueColormap, type MapColormapName } from './colormaps';

export interface MapLayer {
  /** Changes when the voxels change. */
  dataKey: string;
  volumeId: string;
  name: string;
  dims: [number, number, number];
  affine: number[][];
  /** On the scan grid; NaN = no value (outside the preprocessed volume). */
  data: Float32Array;
  colormap: MapColormapName;
  opacity: number;
  calMin: number;
  calMax: number;
}

/** Below every cosine: where the map has no value, so NiiVue draws it transparent (NaN would reach the shader). */
const NO_VALUE = -2;

interface ViewState {
  /** Our image and the data it was built from. */
  image: NVImage | null;
  dataKey: string | null;
  /** Serialises updates of one view. */
  busy: Promise<void>;
  hooked: boolean;
}

const views = new WeakMap<Niivue, ViewState>();
const clickListeners = new Set<(mm: [number, number, number]) => void>();
let wanted: MapLayer | null = null;
let selectedVolume: string | null = null;

// After every viewer redraw: install the click hook once, and bring the layer back if the viewer replaced its
// volumes (showing another image removes every layer).
const hook = addViewOverlay((nv, canvas) => {
  const st = state(nv);
  if (!st.hooked) hookClicks(nv, canvas, st);
  const want = current();
  const present = st.image != null && nv.volumes.includes(st.image);
  if ((want && (!present || st.dataKey !== want.dataKey)) || (!want && present)) schedule(nv);
});

function state(nv: Niivue): ViewState {
  let st = views.get(nv);
  if (!st) views.set(nv, (st = { image: null, dataKey: null, busy: Promise.resolve(), hooked: false }));
  return st;
}

function current(): MapLayer | null {
  return wanted && wanted.volumeId === selectedVolume ? wanted : null;
}

/** Shows (or with null removes) the map layer on every viewer; `selected` is the viewer's volume id. */
export function setMapLayer(layer: MapLayer | null, selected: string | null): Promise<void> {
  wanted = layer;
  selectedVolume = selected;
  return Promise.all(hook.views().map((nv) => schedule(nv))).then(() => undefined);
}

/** Subscribes to clicks (a left press and release) on a viewer; the callback gets the crosshair's world mm. */
export function onViewerClick(cb: (mm: [number, number, number]) => void): () => void {
  clickListeners.add(cb);
  return () => clickListeners.delete(cb);
}

/** What the viewers hold of the map (for tests and the debug hook). */
export function viewerMapLayers(): { name: string; calMin: number; calMax: number; opacity: number; colormap: string; dims: number[] }[] {
  return hook.views().flatMap((nv) => {
    const img = views.get(nv)?.image;
    if (!img || !nv.volumes.includes(img)) return [];
    return [{ name: img.name, calMin: img.cal_min ?? NaN, calMax: img.cal_max ?? NaN, opacity: img.opacity, colormap: img.colormap, dims: Array.from(img.hdr?.dims ?? []).slice(1, 4) }];
  });
}

function schedule(nv: Niivue): Promise<void> {
  const st = state(nv);
  st.busy = st.busy.then(() => apply(nv, st)).catch((e: Error) => console.error('similarity map layer:', e.message));
  return st.busy;
}

async function apply(nv: Niivue, st: ViewState): Promise<void> {
  const want = current();
  const present = st.image != null && nv.volumes.includes(st.image);
  if (!want) {
    if (present) {
      nv.removeVolume(st.image!);
      nv.updateGLVolume();
    }
    st.image = null;
    st.dataKey = null;
    return;
  }
  if (nv.volumes.length === 0) return; // nothing shown yet: the next redraw brings us back
  if (st.dataKey !== want.dataKey || !st.image) {
    const shown = want.data.map((v) => (Number.isFinite(v) ? v : NO_VALUE));
    const spacing = [0, 1, 2].map((c) => Math.hypot(want.affine[0][c], want.affine[1][c], want.affine[2][c])) as [number, number, number];
    const bytes = niftiBytes({ dims: want.dims, spacing, affine: want.affine, data: shown });
    const make = NVImage.new as unknown as (...a: unknown[]) => Promise<NVImage>;
    const image = await make(bytes, `${want.name}.nii`, 'gray', want.opacity, null, want.calMin, want.calMax, true, 0.02, false, false, '', 0);
    if (current()?.dataKey !== want.dataKey) return; // superseded while building
    if (present) nv.removeVolume(st.image!);
    st.image = image;
    st.dataKey = want.dataKey;
  }
  const img = st.image!;
  const cmapName = `voco-${want.colormap}`;
  nv.addColormap(cmapName, niivueColormap(want.colormap));
  img.colormap = cmapName;
  img.opacity = want.opacity;
  img.cal_min = want.calMin;
  img.cal_max = want.calMax;
  if (!nv.volumes.includes(img)) nv.addVolume(img);
  nv.updateGLVolume();
}

/** A press of the left button on the canvas and its release; the crosshair moved to where it was pressed. */
function hookClicks(nv: Niivue, canvas: HTMLCanvasElement, st: ViewState): void {
  st.hooked = true;
  let pressed = false;
  let moved: [number, number, number] | null = null;
  // NiiVue moves the crosshair in its mousedown handler, which runs after pointerdown: watch its location events.
  const previous = nv.onLocationChange;
  nv.onLocationChange = (loc: unknown) => {
    previous.call(nv, loc);
    const mm = (loc as { mm?: ArrayLike<number> }).mm;
    if (pressed && mm) moved = [mm[0], mm[1], mm[2]];
  };
  canvas.addEventListener('pointerdown', (e) => {
    pressed = e.button === 0;
    moved = null;
  });
  canvas.addEventListener('pointerup', () => {
    // Let NiiVue's own mouse handlers finish first.
    setTimeout(() => {
      const mm = moved;
      pressed = false;
      moved = null;
      if (mm) for (const cb of clickListeners) cb(mm);
    }, 0);
  });
}
