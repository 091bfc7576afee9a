// The viewer's link to NiiVue, kept out of React: loading (our Volume → an in-memory NIfTI → NVImage)
// is separate from rendering (one Niivue instance on one canvas, WebGL2).
import { MULTIPLANAR_TYPE, Niivue, NVImage, SHOW_RENDER, SLICE_TYPE } from '@niivue/niivue';
import { niftiBytes } from '../../ingest/niftiWrite';
import { worldToVoxel } from '../../preprocess/geometry';
import type { VoxelArray } from '../../volume/volume';

export type ViewLayout = 'mpr' | 'axial' | 'coronal' | 'sagittal' | 'render';

/** What the viewer can show: a scan, or its preprocessed version. */
export interface ViewImage {
  /** Changes whenever the pixels change (volume id, plus settings for a preprocessed one). */
  key: string;
  name: string;
  dims: [number, number, number];
  spacing: [number, number, number];
  affine: number[][];
  data: VoxelArray;
  labels?: Uint8Array | Uint16Array | Int32Array;
  /** The grid the readout's voxel index refers to, when the pixels shown are a downsampled copy of it. */
  index?: { dims: [number, number, number]; affine: number[][] };
}

export interface Readout {
  /** World position in mm (RAS). */
  mm: [number, number, number];
  /** Voxel index in the shown image's own storage order (the file's i, j, k; not NiiVue's internal RAS index). */
  vox: [number, number, number];
  /** Voxel value (HU for scans; 0..1 for preprocessed). */
  value: number;
  /** Label id under the crosshair, when labels are shown. */
  label?: number;
}

const LAYOUT: Record<ViewLayout, SLICE_TYPE> = {
  mpr: SLICE_TYPE.MULTIPLANAR,
  axial: SLICE_TYPE.AXIAL,
  coronal: SLICE_TYPE.CORONAL,
  sagittal: SLICE_TYPE.SAGITTAL,
  render: SLICE_TYPE.RENDER,
};

/** NVImage.new with defaults spelled out (its declaration lists every parameter). */
async function nvImage(bytes: ArrayBuffer, name: string, colormap: string, opacity: number): Promise<NVImage> {
  const make = NVImage.new as unknown as (...a: unknown[]) => Promise<NVImage>;
  return make(bytes, name, colormap, opacity, null, NaN, NaN, false, 0.02, false, false, '', 0);
}

/** Loading: a ViewImage's voxels as a NiiVue image. */
export async function loadViewImage(img: ViewImage): Promise<NVImage> {
  return nvImage(niftiBytes({ dims: img.dims, spacing: img.spacing, affine: img.affine, data: img.data }), `${img.name}.nii`, 'gray', 1);
}

/** Loading: a ViewImage's label map as a NiiVue overlay with one colour per id. */
export async function loadLabelImage(img: ViewImage & { labels: NonNullable<ViewImage['labels']> }): Promise<NVImage> {
  const labels = await nvImage(
    niftiBytes({ dims: img.dims, spacing: img.spacing, affine: img.affine, data: img.labels }),
    `${img.name}-labels.nii`,
    'gray',
    LABEL_OPACITY,
  );
  let maxId = 0;
  for (let i = 0; i < img.labels.length; i++) if (img.labels[i] > maxId) maxId = img.labels[i];
  labels.setColormapLabel(labelColormap(maxId));
  return labels;
}

const LABEL_OPACITY = 0.45;

/** A fixed, well-separated colour per id (golden-angle hues); id 0 transparent. */
export function labelColormap(maxId: number) {
  const R: number[] = [], G: number[] = [], B: number[] = [], A: number[] = [], I: number[] = [];
  for (let id = 0; id <= Math.max(1, maxId); id++) {
    const h = (id * 137.508) % 360;
    const [r, g, b] = hslToRgb(h, 0.7, 0.55);
    R.push(r);
    G.push(g);
    B.push(b);
    A.push(id === 0 ? 0 : 255);
    I.push(id);
  }
  return { R, G, B, A, I };
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const c = (1 - Math.abs(2 * l - 1)) * s, x = c * (1 - Math.abs(((h / 60) % 2) - 1)), m = l - c / 2;
  const [r, g, b] = h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x];
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

/** Draws over a view after each NiiVue redraw (scroll, zoom, layout, new image): crop boxes and the like. */
export type ViewOverlayDraw = (nv: Niivue, canvas: HTMLCanvasElement) => void;

const overlayDraws = new Set<ViewOverlayDraw>();
const liveViews = new Set<{ nv: Niivue; canvas: HTMLCanvasElement }>();

/**
 * Register an overlay painter for every viewer (present and future). `redraw` repaints the overlays
 * without a NiiVue redraw; `views` lists the live NiiVue instances; `remove` unregisters.
 */
export function addViewOverlay(draw: ViewOverlayDraw): { redraw(): void; views(): Niivue[]; remove(): void } {
  overlayDraws.add(draw);
  return {
    redraw: () => liveViews.forEach((v) => draw(v.nv, v.canvas)),
    views: () => [...liveViews].map((v) => v.nv),
    remove: () => void overlayDraws.delete(draw),
  };
}

function paintOverlays(nv: Niivue, canvas: HTMLCanvasElement) {
  for (const draw of overlayDraws) {
    try {
      draw(nv, canvas);
    } catch (e) {
      console.error('viewer overlay:', (e as Error).message);
    }
  }
}

/** Rendering: one NiiVue instance on a canvas. */
export class NiivueView {
  private nv: Niivue;
  private image: ViewImage | null = null;
  private base: NVImage | null = null;
  private labels: NVImage | null = null;
  private window: [number, number] = [-160, 240];
  // The label overlay is built only when asked for: blending it costs seconds on software WebGL.
  private labelsVisible = false;
  private shownKey: string | null = null;
  private live: { nv: Niivue; canvas: HTMLCanvasElement } | null = null;

  constructor(onLocation: (r: Readout) => void) {
    this.nv = new Niivue({
      backColor: [0.043, 0.055, 0.07, 1],
      crosshairColor: [0.31, 0.63, 1, 0.9],
      crosshairWidth: 1,
      show3Dcrosshair: true,
      isColorbar: false,
      isOrientCube: false,
      dragAndDropEnabled: false, // the studio's own drop zone loads files
      multiplanarShowRender: SHOW_RENDER.ALWAYS,
      multiplanarLayout: MULTIPLANAR_TYPE.GRID,
      multiplanarEqualSize: true,
      multiplanarPadPixels: 4,
      isResizeCanvas: true,
      loadingText: '', // the viewer's own placeholder says what is happening (one text, never two)
      fontColor: [0.75, 0.8, 0.87, 1],
      textHeight: 0.045,
      logLevel: 'error',
    });
    this.nv.onLocationChange = (loc: unknown) => onLocation(this.readout(loc));
  }

  async attach(canvas: HTMLCanvasElement): Promise<void> {
    await this.nv.attachToCanvas(canvas);
    // NiiVue has no after-draw event: wrap this instance's drawScene so overlays follow every redraw.
    const nv = this.nv;
    const drawScene = nv.drawScene.bind(nv);
    nv.drawScene = () => {
      const r = drawScene();
      paintOverlays(nv, canvas);
      return r;
    };
    this.live = { nv, canvas };
    liveViews.add(this.live);
    this.nv.setSliceType(SLICE_TYPE.MULTIPLANAR);
  }

  get key(): string | null {
    return this.shownKey;
  }

  /** Replace what is shown; null clears the view. */
  async show(img: ViewImage | null, window: [number, number]): Promise<void> {
    this.window = window;
    if (img?.key === this.shownKey) return this.setWindow(window);
    const t0 = performance.now();
    const base = img ? await loadViewImage(img) : null;
    // Building the image and uploading it are each one long main-thread task: let the page breathe between them.
    await new Promise((r) => setTimeout(r, 0));
    const t1 = performance.now();
    // Named spans of main-thread time, so that tests can tell the viewer's GL work from the rest of the page.
    if (img) performance.measure('viewer-build', { start: t0, end: t1 });
    for (const v of [...this.nv.volumes]) this.nv.removeVolume(v);
    this.image = img;
    this.base = base;
    this.labels = null;
    this.shownKey = img?.key ?? null;
    if (!base) {
      this.nv.drawScene();
      return;
    }
    this.applyWindow(base);
    this.nv.scene.crosshairPos = [0.5, 0.5, 0.5] as unknown as typeof this.nv.scene.crosshairPos;
    // addVolume uploads the texture and draws (updateGLVolume): once, not twice.
    this.nv.addVolume(base);
    if (this.labelsVisible) await this.addLabels();
    this.nv.createOnLocationChange();
    performance.measure('viewer-upload', { start: t1, end: performance.now() });
    console.info(`[viewer] ${img!.name}: NiiVue image built in ${(t1 - t0).toFixed(0)} ms, uploaded and drawn in ${(performance.now() - t1).toFixed(0)} ms`);
  }

  setWindow(window: [number, number]): void {
    this.window = window;
    if (!this.base) return;
    this.applyWindow(this.base);
    this.nv.updateGLVolume();
  }

  setLayout(layout: ViewLayout): void {
    this.nv.setSliceType(LAYOUT[layout]);
  }

  /** The label map over the shown image (it may arrive after the image) and whether to draw it. */
  async setLabels(labels: ViewImage['labels'] | null, visible: boolean): Promise<void> {
    this.labelsVisible = visible;
    if (!this.image) return;
    let changed = false;
    if ((labels ?? undefined) !== this.image.labels) {
      this.image = { ...this.image, labels: labels ?? undefined };
      if (this.labels) {
        this.nv.removeVolume(this.labels);
        this.labels = null;
        changed = true;
      }
    }
    if (visible && !this.labels && this.image.labels) {
      await this.addLabels();
      changed = true;
    } else if (!visible && this.labels) {
      this.nv.removeVolume(this.labels);
      this.labels = null;
      changed = true;
    }
    if (changed) this.nv.updateGLVolume();
  }

  dispose(): void {
    if (this.live) liveViews.delete(this.live);
    try {
      this.nv.cleanup();
    } catch {
      /* the canvas may already be gone */
    }
  }

  private async addLabels() {
    const img = this.image;
    if (!img?.labels || this.labels) return;
    const key = this.shownKey;
    const labels = await loadLabelImage(img as ViewImage & { labels: NonNullable<ViewImage['labels']> });
    if (key !== this.shownKey || this.labels) return; // another image was shown meanwhile
    this.labels = labels;
    this.nv.addVolume(labels);
  }

  private applyWindow(v: NVImage) {
    v.cal_min = this.window[0];
    v.cal_max = this.window[1];
  }

  private readout(loc: unknown): Readout {
    const l = loc as { mm: ArrayLike<number>; vox: ArrayLike<number>; values: { value: number }[] };
    const mm: [number, number, number] = [l.mm[0], l.mm[1], l.mm[2]];
    // NiiVue's `vox` indexes its RAS-reoriented copy; the file's own index comes from the image's affine.
    let vox: [number, number, number] = [l.vox[0], l.vox[1], l.vox[2]];
    if (this.image) {
      const grid = this.image.index ?? this.image;
      const f = worldToVoxel(grid.affine, mm);
      vox = f.map((v, a) => Math.min(grid.dims[a] - 1, Math.max(0, Math.round(v)))) as [number, number, number];
    }
    const value = l.values?.[0]?.value ?? NaN;
    const label = this.labels ? l.values?.[1]?.value : undefined;
    return { mm, vox, value, label };
  }
}
