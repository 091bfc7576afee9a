// A run as ONE file (.voco): a zip holding
//   voco-run.json          manifest: format/version, run description, the preset definition, sampling state
//   config.json            the RunConfig (same format as the studio's config export)
//   weights.safetensors    every model weight (teacher head included), float32, in the model's order
//   optimizer.safetensors  AdamW moments / amsgrad maxima
//   metrics.csv            the metric history (may carry a text column `source`: where each row was trained)
// Markers (RunMeta.markers, where a run moved between machines) are an optional field of the manifest's meta;
// a `source` column of metrics.csv adds one at every change of source. Both optional: version 1 files written
// before them read the same, and older studios ignore them.
// Tensor-free byte work: decoding checks everything before it returns, so a bad file changes nothing.
import { strToU8, unzipSync, zipSync, type Zippable } from 'fflate';
import { fromSafetensors, toSafetensors } from '../model/weights';
import type { EncoderPreset } from '../model/presets';
import type { TrainerState } from '../worker/protocol';
import { metricsFromCsv, metricsToCsv } from '../store/metricsHistory';
import { parseRunConfig, serializeRunConfig } from '../store/runConfig';
import { mergeMarkers, parseMetricsCsv, SEGMENT_COLUMNS, validMarkers, type ParsedMetricsCsv, type RunMarker } from '../store/runCompare';
import type { RunMeta, SavedRun } from './savedRun';

export const RUN_FILE_FORMAT = 'voco-studio-run';
export const RUN_FILE_VERSION = 1;
export const RUN_FILE_EXTENSION = '.voco';

const FILES = {
  manifest: 'voco-run.json',
  config: 'config.json',
  weights: 'weights.safetensors',
  optimizer: 'optimizer.safetensors',
  metrics: 'metrics.csv',
} as const;

interface Manifest {
  format: typeof RUN_FILE_FORMAT;
  version: number;
  meta: Omit<RunMeta, 'config'>;
  /** The preset definition the weights belong to: import refuses a studio whose preset of that name differs. */
  preset: EncoderPreset;
  weightOrder: string[];
  trainer: Pick<TrainerState, 'step' | 'rng' | 'volumeOrder' | 'volumeCursor' | 'dropoutRng'> & { optimizerStep: number };
}

export class RunFileError extends Error {}

export function encodeRunFile(run: SavedRun, preset: EncoderPreset): Uint8Array {
  const { meta, state, metrics } = run;
  if (state.config.preset !== preset.name) {
    throw new Error(`encodeRunFile: the run uses preset ${state.config.preset}, but preset ${preset.name} was given`);
  }
  const { config: _config, ...metaRest } = meta;
  const manifest: Manifest = {
    format: RUN_FILE_FORMAT,
    version: RUN_FILE_VERSION,
    meta: { ...metaRest, step: state.step },
    preset,
    weightOrder: state.weights.map((w) => w.name),
    trainer: {
      step: state.step,
      rng: state.rng,
      volumeOrder: state.volumeOrder,
      volumeCursor: state.volumeCursor,
      dropoutRng: state.dropoutRng,
      optimizerStep: state.optimizer.step,
    },
  };
  const optimizer = Object.entries(state.optimizer.tensors).map(([name, data]) => ({ name, shape: [data.length], data }));
  // Float bytes do not compress: store them; deflate only the text.
  const files: Zippable = {
    [FILES.manifest]: strToU8(JSON.stringify(manifest, null, 2)),
    [FILES.config]: strToU8(serializeRunConfig(state.config)),
    [FILES.weights]: [toSafetensors(state.weights, { format: 'voco-studio-weights', preset: preset.name }), { level: 0 }],
    [FILES.optimizer]: [toSafetensors(optimizer, { step: String(state.optimizer.step) }), { level: 0 }],
    [FILES.metrics]: strToU8(metricsToCsv(metrics)),
  };
  return zipSync(files, { level: 6 });
}

/**
 * Unzips a run file (only the `wanted` entries when given) and checks its manifest: format and version. Returns the
 * manifest, a reader for text entries and the failure helper, each naming `source` in its message.
 */
function openRunArchive(bytes: Uint8Array, source: string, wanted?: Set<string>) {
  const fail = (why: string): never => {
    throw new RunFileError(`${source} ${why}`);
  };
  let entries: Record<string, Uint8Array> = {};
  try {
    entries = wanted ? unzipSync(bytes, { filter: (e) => wanted.has(e.name) }) : unzipSync(bytes);
  } catch {
    fail('is not a VoCo run file (it is not a zip archive)');
  }
  const text = (name: string) => {
    const f = entries[name];
    if (!f) fail(`is not a complete VoCo run file: ${name} is missing`);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(f);
    } catch {
      return fail(`is damaged: ${name} is not UTF-8 text`);
    }
  };
  if (!entries[FILES.manifest]) fail(`is not a VoCo run file (no ${FILES.manifest} inside)`);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(text(FILES.manifest));
  } catch (e) {
    return fail(`is damaged: ${FILES.manifest} is not JSON (${(e as Error).message})`);
  }
  if (manifest?.format !== RUN_FILE_FORMAT) fail(`is not a VoCo run file (format ${JSON.stringify(manifest?.format)})`);
  if (manifest.version !== RUN_FILE_VERSION) fail(`has run-file version ${manifest.version}; this studio reads version ${RUN_FILE_VERSION}`);
  return { fail, text, manifest, entries };
}

/**
 * Reads a .voco file. `presets` is this studio's preset table; a run whose preset is missing there or defined
 * differently is refused. Throws RunFileError naming the file and the problem.
 */
export function decodeRunFile(bytes: Uint8Array, source: string, presets: Record<string, EncoderPreset>): SavedRun {
  const { fail, text, manifest, entries } = openRunArchive(bytes, source);

  let config;
  try {
    config = parseRunConfig(text(FILES.config), `${source}: ${FILES.config}`);
  } catch (e) {
    return fail(`holds a bad configuration: ${(e as Error).message}`);
  }

  // The preset must exist here and be the same network.
  const ours = presets[config.preset];
  if (!ours) fail(`was trained with model preset "${config.preset}", which this studio does not have (${Object.keys(presets).join(', ')})`);
  const theirs = manifest.preset;
  if (!theirs || theirs.name !== config.preset) fail(`is damaged: its preset definition does not name preset "${config.preset}"`);
  const fields: (keyof EncoderPreset)[] = ['patch', 'dim', 'depth', 'heads', 'mlpRatio', 'stageEnds', 'headHidden', 'headOut'];
  const differ = fields.filter((k) => JSON.stringify(theirs[k]) !== JSON.stringify(ours[k]));
  if (differ.length) {
    fail(
      `uses a different preset "${config.preset}" than this studio: ${differ.map((k) => `${k} ${JSON.stringify(theirs[k])} ≠ ${JSON.stringify(ours[k])}`).join(', ')}`,
    );
  }

  const readTensors = (name: string) => {
    const f = entries[name];
    if (!f) fail(`is not a complete VoCo run file: ${name} is missing`);
    try {
      return fromSafetensors(f, `${source}: ${name}`);
    } catch (e) {
      return fail(`is damaged: ${(e as Error).message}`);
    }
  };
  const weightsFile = readTensors(FILES.weights);
  const byName = new Map(weightsFile.tensors.map((t) => [t.name, t]));
  const order = Array.isArray(manifest.weightOrder) ? manifest.weightOrder : [];
  if (order.length !== byName.size || !order.every((n) => byName.has(n))) {
    fail(`is damaged: ${FILES.weights} holds ${byName.size} tensors that do not match the manifest's ${order.length} weight names`);
  }
  const weights = order.map((n) => byName.get(n)!);
  const optimizerFile = readTensors(FILES.optimizer);
  const optimizerTensors: Record<string, Float32Array> = {};
  for (const t of optimizerFile.tensors) optimizerTensors[t.name] = t.data;

  let metrics;
  let csvMarkers: RunMarker[] = [];
  try {
    const csv = text(FILES.metrics);
    metrics = metricsFromCsv(csv, `${source}: ${FILES.metrics}`);
    if (hasSegmentColumn(csv)) csvMarkers = parseMetricsCsv(csv, `${source}: ${FILES.metrics}`).markers;
  } catch (e) {
    return fail(`is damaged: ${(e as Error).message}`);
  }

  const tr = manifest.trainer;
  const intList = (v: unknown) => Array.isArray(v) && v.every((x) => Number.isInteger(x));
  if (!tr || !Number.isInteger(tr.step) || tr.step < 0 || !intList(tr.rng) || !intList(tr.volumeOrder) || !intList(tr.dropoutRng) || !Number.isInteger(tr.volumeCursor) || !Number.isInteger(tr.optimizerStep)) {
    fail('is damaged: its trainer state (step, random generators) is incomplete');
  }
  const m = manifest.meta;
  if (!m || typeof m.id !== 'string' || !Array.isArray(m.volumes)) fail('is damaged: its run description is incomplete');
  if (m.volumes.length !== config.volumeIds.length) {
    fail(`is damaged: it describes ${m.volumes.length} input volumes but its configuration names ${config.volumeIds.length}`);
  }

  let markers: RunMarker[];
  try {
    markers = mergeMarkers(validMarkers(m.markers, `${source}: ${FILES.manifest}`), csvMarkers);
  } catch (e) {
    return fail(`is damaged: ${(e as Error).message}`);
  }

  const state: TrainerState = {
    format: 'voco-trainer-state',
    version: 1,
    config,
    step: tr.step,
    weights,
    optimizer: { step: tr.optimizerStep, tensors: optimizerTensors },
    rng: tr.rng,
    volumeOrder: tr.volumeOrder,
    volumeCursor: tr.volumeCursor,
    dropoutRng: tr.dropoutRng,
  };
  const { markers: _m, ...metaRest } = m;
  return { meta: { ...metaRest, config, step: tr.step, ...(markers.length ? { markers } : {}) }, state, metrics };
}

function hasSegmentColumn(csv: string): boolean {
  const header = csv.slice(0, csv.indexOf('\n') >>> 0).split(',').map((h) => h.trim());
  return SEGMENT_COLUMNS.some((c) => header.includes(c));
}

/** What the run comparison needs from a .voco file: no weights read, no preset check. */
export interface RunFileSummary {
  meta: Omit<RunMeta, 'config'>;
  /** The configuration, or null when config.json is not one this studio reads (the curves still compare). */
  config: RunMeta['config'] | null;
  /** Every column of metrics.csv (also ones this studio's history does not have), markers merged in meta. */
  metrics: ParsedMetricsCsv;
}

/**
 * Reads only the manifest, the configuration and the metrics of a .voco file (the weights are not unpacked).
 * Throws RunFileError naming the file and the problem.
 */
export function readRunFileSummary(bytes: Uint8Array, source: string): RunFileSummary {
  const { fail, text, manifest } = openRunArchive(bytes, source, new Set<string>([FILES.manifest, FILES.config, FILES.metrics]));
  const m = manifest.meta;
  if (!m || typeof m.id !== 'string') fail('is damaged: its run description is incomplete');
  let config: RunMeta['config'] | null = null;
  try {
    config = parseRunConfig(text(FILES.config), `${source}: ${FILES.config}`);
  } catch {
    config = null;
  }
  let metrics: ParsedMetricsCsv;
  let markers: RunMarker[];
  try {
    metrics = parseMetricsCsv(text(FILES.metrics), `${source}: ${FILES.metrics}`);
    markers = mergeMarkers(validMarkers(m.markers, `${source}: ${FILES.manifest}`), metrics.markers);
  } catch (e) {
    return fail(`is damaged: ${(e as Error).message}`);
  }
  return { meta: { ...m, ...(markers.length ? { markers } : {}) }, config, metrics: { ...metrics, markers } };
}

/** Names a downloaded run file after the run. */
export function runFileName(meta: Pick<RunMeta, 'config' | 'step' | 'createdAt'>): string {
  const date = new Date(meta.createdAt).toISOString().slice(0, 16).replace(/[-:T]/g, '');
  return `voco-${meta.config.preset}-n${meta.config.gridN}r${meta.config.cropSize}-step${meta.step}-${date}${RUN_FILE_EXTENSION}`;
}

/** The weights' safetensors bytes of a run file (for bit-exact comparisons in tests and tools). */
export function runFileWeights(bytes: Uint8Array): Uint8Array {
  const f = unzipSync(bytes, { filter: (e) => e.name === FILES.weights })[FILES.weights];
  if (!f) throw new RunFileError(`run file has no ${FILES.weights}`);
  return f;
}
