// Glue between the Benchmark panel, the dataset (scans, label maps), the training run (its current weights and
// saved checkpoints) and the benchmark worker. Not React; one instance per page. Results go into the benchmark store.
import { BenchmarkCancelled, BenchmarkClient } from '../../worker/benchmarkClient';
import type { BenchmarkRequest, BenchmarkSweep, BenchmarkWeightsSpec, RunConfig } from '../../worker/protocol';
import type { PreprocessedVolume, Volume } from '../../volume/volume';
import { preprocessInWorker } from '../../preprocess/client';
import type { PreprocessSettings } from '../../preprocess/settings';
import { PRESETS } from '../../model/presets';
import { loadRun } from '../../persist/checkpoints';
import { matchVolumes } from '../../persist/fingerprint';
import { decodeRunFile } from '../../persist/runFile';
import { namesFromMaskSources, pairLabelMap, parseLabelNames } from '../../eval/labels';
import { loadedScans, useDatasetStore } from '../../store/datasetStore';
import { useRunStore } from '../../store/runStore';
import {
  beginBenchmark,
  cancelledBenchmark,
  failBenchmark,
  finishBenchmark,
  parseSteps,
  receiveEvent,
  setBenchmarkPhase,
  setLabelNames,
  useBenchmarkStore,
  type BenchmarkState,
} from '../../store/benchmarkStore';
import { trainingController } from '../train/trainingController';

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Roles of a loaded scan: scored on (default: yes) and used for pre-training (default: part of the training run). */
export function volumeRoles(v: Volume, s: Pick<BenchmarkState, 'scoreOn' | 'pretrainedOn'>, runVolumeIds: string[]): { score: boolean; pretrain: boolean } {
  return { score: s.scoreOn[v.id] ?? true, pretrain: s.pretrainedOn[v.id] ?? runVolumeIds.includes(v.id) };
}

export class BenchmarkController {
  private client: BenchmarkClient | null = null;
  private requestId: number | null = null;
  /** Preprocessed volumes per source Volume object (a new label map makes a new object) and settings. */
  private readonly preprocessed = new WeakMap<Volume, Map<string, Promise<PreprocessedVolume>>>();
  /** Per weights spec id of the request being built: the loaded scans it was pre-trained on (for the captions). */
  private trainedOn = new Map<string, string[]>();

  private worker(): BenchmarkClient {
    return (this.client ??= BenchmarkClient.spawn());
  }

  /** Builds the request from the panel's settings and runs it; results stream into the store. */
  async run(): Promise<void> {
    const s = useBenchmarkStore.getState();
    if (s.phase === 'preparing' || s.phase === 'running') return;
    beginBenchmark(null);
    setBenchmarkPhase('preparing', { message: 'Preparing volumes and weights…', done: 0, total: 1 });
    let request: BenchmarkRequest;
    try {
      request = await this.buildRequest();
    } catch (err) {
      failBenchmark(errorText(err));
      return;
    }
    useBenchmarkStore.setState((st) => ({ results: { ...st.results, config: describeRequest(request, this.trainedOn) } }));
    setBenchmarkPhase('running', { message: 'Starting the benchmark worker…', done: 0, total: 1 });
    const { requestId, done } = this.worker().run(request, receiveEvent);
    this.requestId = requestId;
    try {
      finishBenchmark(await done);
    } catch (err) {
      if (err instanceof BenchmarkCancelled) cancelledBenchmark();
      else failBenchmark(errorText(err));
    } finally {
      this.requestId = null;
    }
  }

  cancel(): void {
    if (this.requestId !== null) this.client?.cancel(this.requestId);
  }

  /** Captures the training run's weights as they are now (to score several steps of one run). */
  async snapshotCurrent(): Promise<void> {
    try {
      const spec = await this.currentRunWeights(`snapshot-${Date.now()}`);
      useBenchmarkStore.setState((s) => ({ snapshots: [...s.snapshots.filter((x) => x.step !== spec.step), spec].sort((a, b) => a.step - b.step) }));
    } catch (err) {
      useBenchmarkStore.setState({ error: `Snapshot: ${errorText(err)}` });
    }
  }

  removeSnapshot(id: string): void {
    useBenchmarkStore.setState((s) => ({ snapshots: s.snapshots.filter((x) => x.id !== id) }));
  }

  /** Pairs a loaded label map with a scan by hand: refused (both geometries shown) unless on the same grid. */
  pairManually(labelVolumeId: string, scanId: string): void {
    const ds = useDatasetStore.getState();
    const label = ds.volumes[labelVolumeId];
    const scan = ds.volumes[scanId];
    if (!label || !scan) {
      useBenchmarkStore.setState({ pairMessage: { ok: false, text: 'Pick a label map and a scan that are both loaded.' } });
      return;
    }
    if (label.id === scan.id) {
      useBenchmarkStore.setState({ pairMessage: { ok: false, text: 'A volume cannot be its own label map.' } });
      return;
    }
    try {
      const paired = pairLabelMap(scan, label);
      ds.setVolumeLabels(scan.id, paired.labels);
      const scanRow = ds.rows.find((r) => r.volumeId === scan.id);
      const source = paired.assignedId != null ? `${label.name} (id ${paired.assignedId})` : label.name;
      if (scanRow) ds.patchRow(scanRow.rowId, { labels: { sources: [...(scanRow.labels?.sources ?? []), source], ids: paired.ids } });
      const labelRow = ds.rows.find((r) => r.volumeId === label.id);
      if (labelRow) useDatasetStore.getState().removeRow(labelRow.rowId);
      useBenchmarkStore.setState({ pairMessage: { ok: true, text: `Paired ${label.name} with ${scan.name}: ${paired.ids} structure id(s) on the scan.` } });
    } catch (err) {
      useBenchmarkStore.setState({ pairMessage: { ok: false, text: errorText(err) } });
    }
  }

  /** Reads structure names from a JSON file (TotalSegmentator's label_names_*.json and other shapes). */
  async loadLabelNames(file: File): Promise<void> {
    try {
      const names = parseLabelNames(await file.text(), file.name);
      setLabelNames({ ...useBenchmarkStore.getState().labelNames, ...names }, file.name);
      useBenchmarkStore.setState({ error: null });
    } catch (err) {
      useBenchmarkStore.setState({ error: errorText(err) });
    }
  }

  // ---- building the request ---------------------------------------------------------------------------------

  private async buildRequest(): Promise<BenchmarkRequest> {
    const s = useBenchmarkStore.getState();
    const run = useRunStore.getState();
    const o = s.options;
    const scans = loadedScans(useDatasetStore.getState());
    const runIds = run.config?.volumeIds ?? [];
    const roles = new Map(scans.map((v) => [v.id, volumeRoles(v, s, runIds)]));
    const evalScans = scans.filter((v) => roles.get(v.id)!.score);
    const pretrainScans = scans.filter((v) => roles.get(v.id)!.pretrain);
    if (!s.tasks.length) throw new Error('Select at least one task.');
    if (!evalScans.length) throw new Error('Select at least one scan to score on (load one in the dataset panel).');

    let sweep: BenchmarkSweep | undefined;
    if (s.sweep.enabled) {
      const steps = parseSteps(s.sweep.steps);
      if (!s.sweep.presets.length) throw new Error('The scaling sweep needs at least one preset.');
      if (steps.some((x) => x > 0) && !pretrainScans.length) throw new Error('The scaling sweep pre-trains: mark at least one scan "pre-train".');
      const maxStep = steps[steps.length - 1];
      const base = run.config ?? run.draft;
      sweep = {
        presets: s.sweep.presets,
        steps,
        train: {
          gridN: o.gridN,
          cropSize: o.cropSize,
          spacing: base.spacing,
          huWindow: base.huWindow,
          batchVolumes: s.sweep.batchVolumes,
          randomCrops: s.sweep.randomCrops,
          lr: s.sweep.lr,
          warmupSteps: Math.min(10, Math.floor(maxStep / 10)),
          weightDecay: base.weightDecay,
          gradClip: base.gradClip,
          seed: s.sweep.seed,
          backend: s.backend,
          checkpointEvery: 0,
        },
      };
    }

    const weights = await this.weightSpecs(s, o.cropSize);
    if (!weights.length && !sweep) throw new Error('Select weights to score (random initial, the run’s current weights, saved runs) or enable the scaling sweep.');

    const base: Pick<RunConfig, 'spacing' | 'huWindow'> = run.config ?? run.draft;
    const settings: PreprocessSettings = { spacing: base.spacing, huWindow: base.huWindow, minSize: [o.gridN * o.cropSize, o.gridN * o.cropSize, o.cropSize] };
    const wanted = [...new Map([...evalScans, ...pretrainScans].map((v) => [v.id, v])).values()];
    const volumes: PreprocessedVolume[] = [];
    for (const [i, v] of wanted.entries()) {
      setBenchmarkPhase('preparing', { message: `Preprocessing ${v.name}…`, done: i, total: wanted.length });
      volumes.push(await this.preprocess(v, settings));
    }

    // Names: the JSON list, then names of binary masks attached by ingest ("liver_seg.nrrd (id 1)").
    const maskNames = Object.assign({}, ...useDatasetStore.getState().rows.map((r) => namesFromMaskSources(r.labels?.sources ?? [])));
    return {
      tasks: s.tasks,
      options: o,
      volumes,
      evalVolumeIds: evalScans.map((v) => v.id),
      pretrainVolumeIds: pretrainScans.map((v) => v.id),
      labelNames: { ...maskNames, ...s.labelNames },
      weights,
      sweep,
      backend: s.backend,
    };
  }

  private async weightSpecs(s: BenchmarkState, cropSize: number): Promise<BenchmarkWeightsSpec[]> {
    const out: BenchmarkWeightsSpec[] = [];
    this.trainedOn = new Map();
    const runVolumes = useRunStore.getState().config?.volumeIds ?? [];
    for (const snap of s.snapshots) this.trainedOn.set(snap.id, runVolumes);
    const w = s.weights;
    if (w.initial) {
      out.push({ id: 'initial', label: `${w.preset} · random init (seed ${w.seed})`, preset: w.preset, cropSize, seed: w.seed, step: 0, source: 'initial' });
    }
    if (w.current) {
      out.push(await this.currentRunWeights('current'));
      this.trainedOn.set('current', runVolumes);
    }
    const scans = loadedScans(useDatasetStore.getState());
    const prints = await Promise.all(scans.map((v) => trainingController.fingerprint(v)));
    for (const id of w.savedRuns) {
      const saved = await loadRun(id);
      const c = saved.state.config;
      // The saved run's scans found among the loaded ones by content (ids are per session).
      this.trainedOn.set(`saved:${id}`, matchVolumes(saved.meta.volumes, prints).filter((x): x is string => x !== null));
      out.push({ id: `saved:${id}`, label: `${saved.meta.name} · step ${saved.state.step}`, preset: c.preset, cropSize: c.cropSize, seed: c.seed, step: saved.state.step, source: 'checkpoint', weights: saved.state.weights });
    }
    out.push(...s.snapshots);
    return out;
  }

  private async currentRunWeights(id: string): Promise<BenchmarkWeightsSpec> {
    const run = useRunStore.getState();
    if (!run.config || run.phase === 'idle' || run.phase === 'error') throw new Error('No training run is loaded: start or resume one in the Train tab.');
    // The run's state, read between two steps, through its run file (the training worker's own export).
    const file = await trainingController.exportRun();
    const state = decodeRunFile(file.bytes, file.name, PRESETS).state;
    const c = state.config;
    return { id, label: `${c.preset} · run step ${state.step}`, preset: c.preset, cropSize: c.cropSize, seed: c.seed, step: state.step, source: 'run', weights: state.weights };
  }

  private preprocess(v: Volume, settings: PreprocessSettings): Promise<PreprocessedVolume> {
    let byKey = this.preprocessed.get(v);
    if (!byKey) this.preprocessed.set(v, (byKey = new Map()));
    const key = JSON.stringify(settings);
    let p = byKey.get(key);
    if (!p) {
      p = preprocessInWorker(v, settings);
      byKey.set(key, p);
      p.catch(() => byKey!.delete(key));
    }
    return p;
  }
}

/**
 * The request as exported with the results: everything but voxels and weights. `trainedOn` gives, per weights
 * spec, the scored/loaded scans it was pre-trained on (the benchmark captions are derived from it).
 */
export function describeRequest(r: BenchmarkRequest, trainedOn: Map<string, string[]> = new Map()): Record<string, unknown> {
  const vol = (id: string) => {
    const v = r.volumes.find((x) => x.id === id)!;
    return { id, name: v.name, dims: v.dims, spacing: v.spacing, labelled: !!v.labels };
  };
  return {
    tasks: r.tasks,
    options: r.options,
    backend: r.backend,
    evalVolumes: r.evalVolumeIds.map(vol),
    pretrainVolumes: r.pretrainVolumeIds.map(vol),
    weights: r.weights.map(({ weights: _w, ...rest }) => ({ ...rest, hasWeights: !!_w, trainedOn: trainedOn.get(rest.id) ?? [] })),
    sweep: r.sweep ?? null,
    labelNames: r.labelNames,
  };
}

export const benchmarkController = new BenchmarkController();
