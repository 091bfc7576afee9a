// Label maps for the benchmark: the geometry check that pairs a label map with its scan (reusing the ingest
// engineer's exact grid matching, which also accepts the same grid stored in another axis order), pairing by
// file name, and structure names from a JSON list. Pure functions: the panel calls them, tests pin them.
import { countIds, gridMapping, labelsOnScanGrid, mergeLabels, type GridMapping, type LabelArray } from '../ingest/labels';
import { orientationCode } from '../ingest/volumeFacts';
import type { Volume } from '../volume/volume';

type Geometry = Pick<Volume, 'name' | 'dims' | 'affine'> & { spacing?: readonly number[] };

/** "122×101×112 voxels · 3×3×3 mm · RAS · origin (−180.5, −120, 40) mm" */
export function describeGeometry(v: Geometry): string {
  const a = v.affine;
  const spacing = v.spacing ?? [0, 1, 2].map((j) => Math.hypot(a[0][j], a[1][j], a[2][j]));
  const num = (x: number) => String(Number(x.toFixed(2)));
  let orient = '?';
  try {
    orient = orientationCode(a);
  } catch {
    /* an unusable affine keeps '?' */
  }
  return `${v.dims.join('×')} voxels · ${spacing.map(num).join('×')} mm · ${orient} · origin (${[a[0][3], a[1][3], a[2][3]].map(num).join(', ')}) mm`;
}

export type PairCheck = { ok: true; mapping: GridMapping } | { ok: false; message: string };

/**
 * Does the label map lie on the scan's voxel grid (same world grid, possibly another axis order)? A mismatch is
 * refused with both geometries in the message.
 */
export function checkLabelGeometry(scan: Geometry, label: Geometry): PairCheck {
  const mapping = gridMapping(label, scan);
  if (mapping) return { ok: true, mapping };
  return {
    ok: false,
    message:
      `Label map "${label.name}" does not lie on the grid of "${scan.name}", so it cannot be paired:\n` +
      `  scan:      ${describeGeometry(scan)}\n` +
      `  label map: ${describeGeometry(label)}`,
  };
}

export interface PairedLabels {
  /** The scan's label map after pairing (merged with any it had). */
  labels: LabelArray;
  /** Id given to a binary mask (0/1), or null for a multi-label map (its ids are kept). */
  assignedId: number | null;
  /** Distinct non-zero ids now on the scan. */
  ids: number;
}

/** Pairs a label map with a scan: geometry check (throws the two geometries on mismatch), resampling by index, merge. */
export function pairLabelMap(scan: Volume, label: Volume): PairedLabels {
  const check = checkLabelGeometry(scan, label);
  if (!check.ok) throw new Error(check.message);
  for (let i = 0; i < label.data.length; i++) {
    const v = label.data[i];
    if (!(v >= 0) || !Number.isInteger(v)) {
      throw new Error(`"${label.name}" is not a label map: voxel ${i} holds ${v} (label ids are integers ≥ 0)`);
    }
  }
  const onGrid = labelsOnScanGrid(label.data, label.dims, scan.dims, check.mapping);
  const merged = mergeLabels(scan.labels, onGrid);
  // A first binary mask keeps its value 1 (mergeLabels reports no new id for it): say so.
  let assignedId = merged.assignedId;
  if (!scan.labels) {
    let max = 0;
    for (let i = 0; i < onGrid.length; i++) if (onGrid[i] > max) max = onGrid[i];
    if (max === 1) assignedId = 1;
  }
  return { labels: merged.labels, assignedId, ids: countIds(merged.labels) };
}

const EXTENSIONS = /\.(nii\.gz|nii|nrrd|nhdr|mha|mhd|gz)$/i;
/** Words that say "this is a scan" or "this is a label map" and nothing about which one. */
const NOISE = new Set(['ct', 'scan', 'image', 'img', 'vol', 'volume', 'seg', 'segmentation', 'label', 'labels', 'mask', 'masks', 'fast', 'force', 'split', 'gt', 'total', 'sm']);

/** The words of a file name that identify the case: "example_seg_fast_force_split.nii.gz" → ["example"]. */
export function caseWords(name: string): string[] {
  const base = name.split(/[\\/]/).pop()!.replace(EXTENSIONS, '').replace(EXTENSIONS, '');
  return base
    .split(/[^A-Za-z0-9]+/)
    .map((w) => w.toLowerCase())
    .filter((w) => w && !NOISE.has(w));
}

/**
 * Pairs label maps with scans by name: each label map goes to the scan sharing the most case words (ties: the
 * first scan). Label maps sharing no word with any scan stay unpaired (the user pairs them by hand).
 */
export function pairByName(scans: { id: string; name: string }[], labels: { id: string; name: string }[]): { labelId: string; scanId: string }[] {
  const out: { labelId: string; scanId: string }[] = [];
  for (const l of labels) {
    const lw = new Set(caseWords(l.name));
    let best: { id: string; score: number } | null = null;
    for (const s of scans) {
      const score = caseWords(s.name).filter((w) => lw.has(w)).length;
      if (score > 0 && (!best || score > best.score)) best = { id: s.id, score };
    }
    if (best) out.push({ labelId: l.id, scanId: best.id });
  }
  return out;
}

/** "liver_seg.nrrd" → "liver": the structure a binary mask file is named after. */
export function maskStructureName(fileName: string): string {
  const words = fileName.split(/[\\/]/).pop()!.replace(EXTENSIONS, '').replace(EXTENSIONS, '').split(/[^A-Za-z0-9]+/).filter(Boolean);
  const kept = words.filter((w) => !NOISE.has(w.toLowerCase()));
  return (kept.length ? kept : words).join('_') || fileName;
}

/**
 * Structure names by label id from a JSON text. Accepted shapes: an object {"1": "spleen", …} (TotalSegmentator's
 * label_names_*.json), an object {"spleen": 1, …}, an array of names (index = id when the first entry is
 * "background", else index + 1), or an array of {id|value|label, name}. Throws a message naming the file.
 */
export function parseLabelNames(text: string, fileName: string): Record<number, string> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${fileName}: not valid JSON (${(err as Error).message})`);
  }
  const out: Record<number, string> = {};
  const put = (id: unknown, name: unknown, where: string) => {
    const n = typeof id === 'string' && /^\s*\d+\s*$/.test(id) ? Number(id) : id;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new Error(`${fileName}: ${where} has label id ${JSON.stringify(id)}; ids are integers ≥ 0`);
    if (typeof name !== 'string' || !name.trim()) throw new Error(`${fileName}: ${where} has name ${JSON.stringify(name)}; expected a non-empty string`);
    out[n] = name.trim();
  };
  if (Array.isArray(json)) {
    if (json.every((e) => typeof e === 'string')) {
      const offset = /^(background|bg|clear label)$/i.test(String(json[0] ?? '')) ? 0 : 1;
      json.forEach((name, i) => put(i + offset, name, `entry ${i}`));
    } else {
      json.forEach((e, i) => {
        if (!e || typeof e !== 'object') throw new Error(`${fileName}: entry ${i} is ${JSON.stringify(e)}; expected a name or {id, name}`);
        const o = e as Record<string, unknown>;
        put(o.id ?? o.value ?? o.label, o.name, `entry ${i}`);
      });
    }
  } else if (json && typeof json === 'object') {
    for (const [k, v] of Object.entries(json as Record<string, unknown>)) {
      if (/^\s*\d+\s*$/.test(k)) put(k, v, `key "${k}"`);
      else put(v, k, `key "${k}"`);
    }
  } else {
    throw new Error(`${fileName}: expected a JSON object or array of label names, got ${typeof json}`);
  }
  delete out[0]; // id 0 is the background everywhere in the studio
  if (Object.keys(out).length === 0) throw new Error(`${fileName}: no label names in it`);
  return out;
}

/** Names of binary masks attached by ingest ("liver_seg.nrrd (id 1)" in a dataset row's label sources). */
export function namesFromMaskSources(sources: string[]): Record<number, string> {
  const out: Record<number, string> = {};
  for (const s of sources) {
    const m = /^(.*) \(id (\d+)\)$/.exec(s);
    if (m) out[Number(m[2])] = maskStructureName(m[1]);
  }
  return out;
}
