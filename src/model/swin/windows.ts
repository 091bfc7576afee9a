// Index plans for shifted-window attention (MONAI 1.3 SwinTransformerBlock), computed once per (crops, grid, shift)
// in JavaScript so the device only ever runs row gathers at rank 2:
//   pad each axis to a multiple of the window (zeros AFTER norm1) → torch.roll by −shift → window_partition.
// `src[p]` is the token row that window position p reads (or `rows`, a zero row, for padding), `inv[t]` is the window
// position that holds token t; window_reverse → roll back → crop is then the gather by `inv`.
// Also the attention mask of the shifted blocks (compute_mask: −100 between tokens of different regions) and the
// relative-position index: MONAI builds it for the 7³ window and, where a window is clamped to a smaller grid,
// takes its top-left [n, n] corner (`relative_position_index[:n, :n]`), which we reproduce as is.
import { SWIN_WINDOW } from './config';

export type Dims3 = [number, number, number];

export interface WindowPlan {
  /** Window edge per axis after clamping to the grid (get_window_size), and the shift per axis. */
  window: Dims3;
  shift: Dims3;
  /** Windows per crop, tokens per window. */
  windows: number;
  tokens: number;
  /** [crops·windows·tokens]: source row in [0, crops·D·H·W], the last value meaning a zero (padding) row. */
  src: Int32Array;
  /** [crops·D·H·W]: window position of each token. */
  inv: Int32Array;
  /** [windows, tokens²] additive mask (0 or −100), or null when no axis is shifted. */
  mask: Float32Array | null;
}

/** MONAI's get_window_size: an axis no longer than the window gets a window of its own length and no shift. */
export function clampWindow(dims: Dims3, shifted: boolean): { window: Dims3; shift: Dims3 } {
  const half = Math.floor(SWIN_WINDOW / 2);
  const window = dims.map((d) => (d <= SWIN_WINDOW ? d : SWIN_WINDOW)) as Dims3;
  const shift = dims.map((d) => (d <= SWIN_WINDOW || !shifted ? 0 : half)) as Dims3;
  return { window, shift };
}

export function windowPlan(crops: number, dims: Dims3, shifted: boolean): WindowPlan {
  const { window, shift } = clampWindow(dims, shifted);
  const padded = dims.map((d, a) => Math.ceil(d / window[a]) * window[a]) as Dims3;
  const per = padded.map((p, a) => p / window[a]) as Dims3;
  const windows = per[0] * per[1] * per[2];
  const tokens = window[0] * window[1] * window[2];
  const [D, H, W] = dims;
  const voxels = D * H * W;
  const zeroRow = crops * voxels;
  const src = new Int32Array(crops * windows * tokens);
  const inv = new Int32Array(crops * voxels).fill(-1);
  let p = 0;
  for (let c = 0; c < crops; c++) {
    for (let wd = 0; wd < per[0]; wd++) for (let wh = 0; wh < per[1]; wh++) for (let ww = 0; ww < per[2]; ww++) {
      for (let i = 0; i < window[0]; i++) for (let j = 0; j < window[1]; j++) for (let k = 0; k < window[2]; k++, p++) {
        // roll(x, −s)[q] = x[(q + s) mod L] in the padded grid; padded positions beyond the grid are zeros.
        const d = (wd * window[0] + i + shift[0]) % padded[0];
        const h = (wh * window[1] + j + shift[1]) % padded[1];
        const w = (ww * window[2] + k + shift[2]) % padded[2];
        if (d < D && h < H && w < W) {
          const t = c * voxels + (d * H + h) * W + w;
          src[p] = t;
          inv[t] = p;
        } else src[p] = zeroRow;
      }
    }
  }
  if (inv.includes(-1)) throw new Error('windowPlan: a token is in no window (internal error)');
  const anyShift = shift.some((s) => s > 0);
  return { window, shift, windows, tokens, src, inv, mask: anyShift ? shiftMask(padded, window, clampWindow(dims, true).shift) : null };
}

/**
 * compute_mask: each axis of the padded grid is cut by the slices [:−w], [−w:−s], [−s:] (Python semantics, the
 * later slice winning where they overlap, as the later assignment does), regions are numbered over the three axes,
 * and window positions in different regions get −100.
 */
function shiftMask(padded: Dims3, window: Dims3, shift: Dims3): Float32Array {
  const region = padded.map((L, a) => {
    const label = new Int32Array(L);
    const bounds: [number, number][] = [pySlice(L, null, -window[a]), pySlice(L, -window[a], -shift[a]), pySlice(L, -shift[a], null)];
    bounds.forEach(([b, e], idx) => label.fill(idx, b, Math.max(b, e)));
    return label;
  });
  const per = padded.map((p, a) => p / window[a]);
  const tokens = window[0] * window[1] * window[2];
  const windows = per[0] * per[1] * per[2];
  const mask = new Float32Array(windows * tokens * tokens);
  const lab = new Int32Array(tokens);
  let wi = 0;
  for (let wd = 0; wd < per[0]; wd++) for (let wh = 0; wh < per[1]; wh++) for (let ww = 0; ww < per[2]; ww++, wi++) {
    let q = 0;
    for (let i = 0; i < window[0]; i++) for (let j = 0; j < window[1]; j++) for (let k = 0; k < window[2]; k++, q++) {
      lab[q] = region[0][wd * window[0] + i] * 9 + region[1][wh * window[1] + j] * 3 + region[2][ww * window[2] + k];
    }
    const base = wi * tokens * tokens;
    for (let a = 0; a < tokens; a++) for (let b = 0; b < tokens; b++) if (lab[a] !== lab[b]) mask[base + a * tokens + b] = -100;
  }
  return mask;
}

/** [start, stop) of Python's slice(start, stop) on a sequence of length L (step 1). */
function pySlice(L: number, start: number | null, stop: number | null): [number, number] {
  const norm = (v: number | null, dflt: number) => (v === null ? dflt : v < 0 ? Math.max(0, L + v) : Math.min(v, L));
  // slice(-0) is slice(0): Python has no negative zero for ints.
  return [norm(start === null ? null : start === -0 ? 0 : start, 0), norm(stop === null ? null : stop === -0 ? 0 : stop, L)];
}

/**
 * MONAI's relative_position_index for the 7³ window, cut to [tokens, tokens]: entry (a, b) indexes the
 * (13³ × heads) bias table by the offset between window positions a and b of the 7³ enumeration.
 */
export function relativePositionIndex(tokens: number): Int32Array {
  const w = SWIN_WINDOW;
  const span = 2 * w - 1;
  const out = new Int32Array(tokens * tokens);
  const coord = (i: number) => [Math.floor(i / (w * w)), Math.floor(i / w) % w, i % w];
  for (let a = 0; a < tokens; a++) {
    const ca = coord(a);
    for (let b = 0; b < tokens; b++) {
      const cb = coord(b);
      out[a * tokens + b] = (ca[0] - cb[0] + w - 1) * span * span + (ca[1] - cb[1] + w - 1) * span + (ca[2] - cb[2] + w - 1);
    }
  }
  return out;
}
