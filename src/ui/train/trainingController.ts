// Glue between the studio's buttons, the training worker (TrainingClient), preprocessing and saved runs.
// Not React: one instance per page. Everything it learns goes into the run store; components only draw it.
import { TrainingClient } from '../../worker/client';
import type { BackendInfo, RunConfig, TrainerState } from '../../worker/protocol';
import type { PreprocessedVolume, Volume } from '../../volume/volume';
import { preprocessInWorker } from '../../preprocess/client';
import type { PreprocessSettings } from '../../preprocess/settings';
import { PRESETS, paramCount } from '../../model/presets';
import { fingerprintVolume, matchVolumes, type VolumeFingerprint } from '../../persist/fingerprint';
import { deleteRun, listRuns, loadRun, requestPersistentStorage, saveRun } from '../../persist/checkpoints';
import { decodeRunFile, encodeRunFile, runFileName } from '../../persist/runFile';
import { newRunId, runLabel, type RunMeta, type SavedRun } from '../../persist/savedRun';
import { exportRunWeights, type WeightsFormat } from '../../persist/weightsExport';
import { importedRun, trainingMemoryCheck } from '../../persist/importedRun';
import { referenceModelKeys } from '../../persist/referenceLayout';
import type { ImportReport } from '../../model/checkpoints/keyMap';
import type { ImportedWeight } from '../../model/checkpoints/open';
import { isSwinPreset, type EncoderPreset } from '../../model/presets';
import { setImportedModelSink } from './modelImport';
import { preprocessSettingsOf, regionSize, wasmHeapRefusal } from '../../store/runConfig';
import {
  beginRun,
  flushSteps,
  ingestStep,
  reportError,
  reportGpuError,
  resetRun,
  runHistory,
  setPhase,
  useRunStore,
  type RunVolumeGeometry,
} from '../../store/runStore';

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class TrainingController {
  private client: TrainingClient | null = null;
  private readonly fingerprints = new Map<string, Promise<VolumeFingerprint>>();
  private readonly preprocessed = new Map<string, Promise<PreprocessedVolume>>();
  /** Step of the last checkpoint written, to skip saving the same state twice. */
  private savedStep = -1;
  private saving: Promise<void> = Promise.resolve();
  /** Configure/load sequences in progress. */
  private preparing = 0;
  /** Steps the worker has reported done (the store learns it a frame later). */
  private stepsDone = 0;
  /** Step of the newest checkpoint received from the worker (saved or being saved). */
  private checkpointStep = -1;

  constructor(private readonly spawn: () => TrainingClient = () => TrainingClient.spawn()) {}

  // ---- worker events --------------------------------------------------------------------------------------

  private worker(): TrainingClient {
    if (this.client) return this.client;
    const c = this.spawn();
    c.on('ready', (e) => useRunStore.setState({ backend: e.backend, paramCount: e.paramCount, ...(e.step !== undefined ? { step: e.step } : {}) }));
    c.on('step', (e) => {
      this.stepsDone = e.metrics.step + 1;
      ingestStep(e.metrics);
    });
    c.on('state', (e) => {
      // 'idle' from the worker means "built, not looping"; while a configure/load sequence runs, the
      // sequence itself says when the run is ready (the worker reports idle between its steps).
      if (e.state === 'idle' && this.preparing > 0) return;
      // Steps are published once per frame; a run that stops shows its last step (and health) with its new phase.
      if (e.state !== 'running') flushSteps();
      setPhase(e.state === 'idle' ? 'ready' : e.state);
      if (e.state === 'paused' || e.state === 'stopped' || e.state === 'done') void this.saveNow('end of a stretch');
    });
    c.on('error', (e) => {
      if (e.requestId !== undefined) return; // answered through the request's promise
      reportError(e.message, e.fatal);
    });
    c.on('gpu-error', (e) => reportGpuError(e.message));
    c.on('checkpoint', (e) => {
      this.checkpointStep = e.state.step;
      if (e.reason === 'auto') this.enqueueSave(e.state);
    });
    this.client = c;
    return c;
  }

  // ---- starting ---------------------------------------------------------------------------------------------

  /** Preprocesses the selected volumes, builds the run in the worker and starts training. */
  async startNew(config: RunConfig, lookup: (id: string) => Volume | undefined): Promise<void> {
    const volumes = config.volumeIds.map((id) => {
      const v = lookup(id);
      if (!v) throw new Error(`Volume ${id} is no longer loaded`);
      return v;
    });
    const createdAt = Date.now();
    const runVolumes = await Promise.all(volumes.map((v) => this.fingerprint(v)));
    const runId = newRunId();
    beginRun({ runId, runName: runLabel(config, runVolumes, createdAt), config, step: 0, createdAt, runVolumes });
    this.savedStep = -1;
    this.checkpointStep = -1;
    this.stepsDone = 0;
    this.preparing++;
    try {
      await this.configure(config, volumes);
      void requestPersistentStorage();
      this.worker().start();
    } catch (err) {
      reportError(`Could not start the run: ${errorText(err)}`, true);
    } finally {
      this.preparing--;
    }
  }

  /**
   * Loads a saved run into the worker (same volumes, found again by fingerprint) with its curves; the user
   * continues it with start(). `totalSteps` extends a finished run.
   */
  async resumeSaved(runId: string, loaded: Volume[]): Promise<void> {
    let run: SavedRun;
    try {
      run = await loadRun(runId);
    } catch (err) {
      reportError(errorText(err), false);
      return;
    }
    const ids = await this.locateVolumes(run.meta, loaded);
    if (typeof ids === 'string') {
      reportError(ids, false);
      return;
    }
    // Ids are per session: re-key the configuration (and the state's copy of it) to the volumes loaded now.
    const config: RunConfig = { ...run.state.config, volumeIds: ids };
    const state: TrainerState = { ...run.state, config };
    const volumes = ids.map((id) => loaded.find((v) => v.id === id)!);
    beginRun({
      runId: run.meta.id,
      runName: run.meta.name,
      config,
      step: run.state.step,
      createdAt: run.meta.createdAt,
      runVolumes: run.meta.volumes.map((fp, i) => ({ ...fp, id: ids[i] })),
      metrics: run.metrics,
      markers: run.meta.markers,
    });
    // The setup panel shows the resumed run's configuration (its step budget stays editable).
    useRunStore.setState({ draft: config });
    this.preparing++;
    try {
      await this.configure(config, volumes);
      setPhase('preparing', `Loading the checkpoint of step ${run.state.step}…`);
      await this.worker().loadCheckpoint(state);
      this.savedStep = run.state.step;
      this.checkpointStep = run.state.step;
      this.stepsDone = run.state.step;
      useRunStore.setState({ lastCheckpoint: { step: run.state.step, savedAt: run.meta.savedAt } });
      setPhase('ready');
    } catch (err) {
      reportError(`Could not resume ${run.meta.name}: ${errorText(err)}`, true);
    } finally {
      this.preparing--;
    }
  }

  /** Starts or continues the configured run; a changed step budget is sent first. */
  start(totalSteps?: number): void {
    const s = useRunStore.getState();
    if (!s.config) return;
    if (totalSteps !== undefined && totalSteps !== s.config.totalSteps) {
      this.worker().setTotalSteps(totalSteps);
      useRunStore.setState({ config: { ...s.config, totalSteps } });
    }
    this.worker().start();
  }

  pause(): void {
    this.client?.pause();
  }

  /** The training worker's client once started (the similarity maps talk to the same worker and its run). */
  get workerClient(): TrainingClient | null {
    return this.client;
  }
  resume(): void {
    this.client?.resume();
  }
  stop(): void {
    this.client?.stop();
  }

  /** Leaves the current run (its checkpoints stay saved) and returns to the setup. */
  async closeRun(): Promise<void> {
    this.client?.stop();
    await this.saving;
    resetRun();
  }

  // ---- checkpoints ------------------------------------------------------------------------------------------

  /** Asks the worker for its state now and saves it (no-op when nothing changed since the last save). */
  async saveNow(why = 'request'): Promise<void> {
    const s = useRunStore.getState();
    if (!this.client || !s.runId || this.stepsDone === this.checkpointStep || this.preparing > 0) return;
    try {
      const state = await this.client.checkpoint();
      this.enqueueSave(state);
      await this.saving;
    } catch (err) {
      reportError(`Checkpoint (${why}) failed: ${errorText(err)}`, false);
    }
  }

  private enqueueSave(state: TrainerState): void {
    this.saving = this.saving.then(() => this.persist(state)).catch((err) => reportError(errorText(err), false));
  }

  private async persist(state: TrainerState): Promise<void> {
    const s = useRunStore.getState();
    if (!s.runId || !s.config || !s.createdAt) return;
    if (state.step === this.savedStep) return;
    const snap = runHistory.snapshot();
    // Only the points the checkpoint has seen: steps after it would be repeated on resume.
    let n = snap.length;
    while (n > 0 && snap.columns.step[n - 1] >= state.step) n--;
    snap.length = n;
    const meta: RunMeta = {
      id: s.runId,
      name: s.runName ?? s.runId,
      createdAt: s.createdAt,
      savedAt: Date.now(),
      step: state.step,
      config: { ...state.config, totalSteps: s.config.totalSteps },
      volumes: s.runVolumes,
      lastLoss: n > 0 ? snap.columns.loss[n - 1] : null,
      backend: backendLabel(s.backend),
      origin: 'trained',
      ...(s.markers.length ? { markers: s.markers } : {}),
    };
    await saveRun({ meta, state, metrics: snap });
    this.savedStep = state.step;
    useRunStore.setState({ lastCheckpoint: { step: state.step, savedAt: meta.savedAt } });
    await this.refreshRuns();
  }

  async refreshRuns(): Promise<void> {
    try {
      useRunStore.setState({ savedRuns: await listRuns() });
    } catch (err) {
      reportError(`Could not list saved runs: ${errorText(err)}`, false);
    }
  }

  async deleteSaved(runId: string): Promise<void> {
    await deleteRun(runId);
    await this.refreshRuns();
  }

  // ---- imported models (PyTorch / safetensors checkpoints of the reference encoder) ---------------------------

  /** Saves usable imported weights as a run (preset implied by the feature size, step = global_step). */
  async saveImportedModel(report: ImportReport, weights: ImportedWeight[]): Promise<RunMeta> {
    const preset = presetForImport(report);
    if (!preset) throw new Error(noPresetMessage(report));
    const draft = useRunStore.getState().draft;
    const cropSize = draft.cropSize >= 64 && draft.cropSize % 32 === 0 ? draft.cropSize : 64;
    const run = importedRun(report, weights, { preset: preset.name, base: draft, cropSize, toModel: (w) => w, modelKeys: referenceModelKeys(preset) });
    await saveRun(run);
    await this.refreshRuns();
    useRunStore.setState({ notice: `Imported ${report.file} as ${preset.name} at step ${run.meta.step}: open it on your scans for maps, the benchmark or more pre-training` });
    return run.meta;
  }

  /**
   * Makes an imported run (trained elsewhere, no volumes of ours) the active run on the scans selected in the setup
   * (or all loaded scans): its weights become the current weights for maps and the benchmark, and Start continues
   * pre-training from them when the memory estimate allows.
   */
  async openImported(runId: string, loaded: Volume[], gpu: { maxStorageBufferBindingSize: number } | null): Promise<void> {
    const run = await loadRun(runId);
    const draft = useRunStore.getState().draft;
    const picked = loaded.filter((v) => draft.volumeIds.includes(v.id));
    const volumes = picked.length ? picked : loaded;
    if (!volumes.length) throw new Error('Load at least one scan to open the imported model on');
    const config: RunConfig = { ...run.state.config, volumeIds: volumes.map((v) => v.id), backend: draft.backend };
    const memory = trainingMemoryCheck(run.state.weights, config.backend, gpu);
    const fingerprints = await Promise.all(volumes.map((v) => this.fingerprint(v)));
    beginRun({ runId: newRunId(), runName: `${run.meta.name} on ${volumes.length} scan${volumes.length > 1 ? 's' : ''}`, config, step: run.state.step, createdAt: Date.now(), runVolumes: fingerprints });
    useRunStore.setState({ draft: config, trainBlocked: memory.refusal ? `Cannot continue pre-training here: ${memory.refusal}` : null });
    this.preparing++;
    try {
      await this.configure(config, volumes);
      // The step itself (activations of every crop) must fit too, not only the weights and optimizer state.
      const preset = PRESETS[config.preset];
      if (!memory.refusal && preset) {
        const geometry = useRunStore.getState().geometry;
        const voxels = config.volumeIds.reduce((s, id) => s + (geometry[id] ? geometry[id].dims[0] * geometry[id].dims[1] * geometry[id].dims[2] : 0), 0);
        const step = wasmHeapRefusal(preset, config, paramCount(preset, config.cropSize).total, voxels, gpu);
        if (step) useRunStore.setState({ trainBlocked: `Cannot continue pre-training here: ${step}` });
      }
      setPhase('preparing', `Loading the imported weights (step ${run.state.step})…`);
      // The fresh trainer's own sampling state and optimizer, with the imported weights and step.
      const fresh = await this.worker().checkpoint();
      await this.worker().loadCheckpoint({ ...fresh, config, step: run.state.step, weights: run.state.weights });
      this.savedStep = -1;
      this.checkpointStep = run.state.step;
      this.stepsDone = run.state.step;
      setPhase('ready');
    } catch (err) {
      reportError(`Could not open ${run.meta.name}: ${errorText(err)}`, true);
    } finally {
      this.preparing--;
    }
  }

  // ---- run files --------------------------------------------------------------------------------------------

  /** The active run as a .voco file (fresh state from the worker), or a saved run's last checkpoint. */
  async exportRun(runId?: string): Promise<{ name: string; bytes: Uint8Array }> {
    const run = await this.runForExport(runId);
    const preset = PRESETS[run.state.config.preset];
    if (!preset) throw new Error(`Run uses unknown preset ${run.state.config.preset}`);
    return { name: runFileName(run.meta), bytes: encodeRunFile(run, preset) };
  }

  /** A run's weights as a checkpoint: the authors' layout (.pt / .safetensors) or, for ViT presets, .safetensors. */
  async exportWeights(runId: string | undefined, format: WeightsFormat): Promise<{ name: string; pieces: Uint8Array[] }> {
    return exportRunWeights(await this.runForExport(runId), format, PRESETS);
  }

  private async runForExport(runId?: string): Promise<SavedRun> {
    const s = useRunStore.getState();
    let run: SavedRun;
    if (!runId || runId === s.runId) {
      if (!this.client || !s.runId || !s.config || !s.createdAt) throw new Error('No run is active to export');
      const state = await this.client.checkpoint();
      // Saved as well: the newest state is then also the run's checkpoint in this browser.
      this.enqueueSave(state);
      const metrics = runHistory.snapshot();
      run = {
        meta: {
          id: s.runId, name: s.runName ?? s.runId, createdAt: s.createdAt, savedAt: Date.now(), step: state.step, config: state.config,
          volumes: s.runVolumes, lastLoss: runHistory.last('loss') ?? null, backend: backendLabel(s.backend), origin: 'trained',
          ...(s.markers.length ? { markers: s.markers } : {}),
        },
        state,
        metrics,
      };
    } else {
      run = await loadRun(runId);
    }
    return run;
  }

  /** Reads a .voco file and saves it as a new run in this browser; throws (saving nothing) when it is not one. */
  async importRunFile(file: File): Promise<RunMeta> {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const run = decodeRunFile(bytes, file.name, PRESETS);
    const meta: RunMeta = { ...run.meta, id: newRunId(), savedAt: Date.now(), origin: 'imported', name: `${run.meta.name} (imported)` };
    await saveRun({ ...run, meta });
    await this.refreshRuns();
    return meta;
  }

  // ---- helpers ------------------------------------------------------------------------------------------------

  fingerprint(v: Volume): Promise<VolumeFingerprint> {
    let p = this.fingerprints.get(v.id);
    if (!p) {
      p = fingerprintVolume(v);
      this.fingerprints.set(v.id, p);
    }
    return p;
  }

  /** The loaded volumes' ids for a saved run's inputs, or a message naming the missing ones. */
  async locateVolumes(meta: RunMeta, loaded: Volume[]): Promise<string[] | string> {
    const prints = await Promise.all(loaded.map((v) => this.fingerprint(v)));
    const ids = matchVolumes(meta.volumes, prints);
    const missing = meta.volumes.filter((_, i) => ids[i] === null).map((v) => `${v.name} (${v.dims.join('×')})`);
    if (missing.length) return `To resume this run, load the scans it was trained on: ${missing.join(', ')}`;
    return ids as string[];
  }

  private async configure(config: RunConfig, volumes: Volume[]): Promise<void> {
    const settings: PreprocessSettings = preprocessSettingsOf(config);
    const pre: PreprocessedVolume[] = [];
    for (const v of volumes) {
      setPhase('preparing', `Preprocessing ${v.name}…`);
      pre.push(await this.preprocess(v, settings));
    }
    const geometry: Record<string, RunVolumeGeometry> = {};
    for (const p of pre) geometry[p.id] = { name: p.name, dims: p.dims, affine: p.affine };
    useRunStore.setState({ geometry });
    setPhase('preparing', `Building the model on the ${config.backend} backend…`);
    const ready = await this.worker().configure(config, pre);
    useRunStore.setState({ backend: ready.backend, paramCount: ready.paramCount });
  }

  private preprocess(v: Volume, settings: PreprocessSettings): Promise<PreprocessedVolume> {
    const key = `${v.id}|${JSON.stringify(settings)}`;
    let p = this.preprocessed.get(key);
    if (!p) {
      p = preprocessInWorker(v, settings);
      this.preprocessed.set(key, p);
      p.catch(() => this.preprocessed.delete(key));
    }
    return p;
  }
}

export function backendLabel(b: BackendInfo | null): string | null {
  if (!b) return null;
  return `${b.name}${b.adapter ? ` (${b.adapter})` : ''}${b.software ? ' · software' : ''}`;
}

/** The page's one controller. */
export const trainingController = new TrainingController();

/** The studio preset of the reference encoder with this feature size and head width, if there is one. */
export function presetForImport(report: Pick<ImportReport, 'featureSize' | 'headWidth'>): EncoderPreset | undefined {
  return Object.values(PRESETS).find((p) => {
    return isSwinPreset(p) && p.featureSize === report.featureSize && p.headHidden === report.headWidth && p.headOut === report.headWidth;
  });
}

function noPresetMessage(report: Pick<ImportReport, 'featureSize' | 'headWidth'>): string {
  const refs = Object.values(PRESETS).filter(isSwinPreset);
  if (!refs.length) return 'the reference SwinViT model is not part of this build yet, so the weights cannot be used here';
  const have = refs.map((p) => `${p.name} (feature size ${p.featureSize}, heads ${p.headHidden})`).join(', ');
  return `no studio preset has feature size ${report.featureSize} with ${report.headWidth}-wide heads (${have})`;
}

setImportedModelSink({
  blocked: (report) => (presetForImport(report) ? null : noPresetMessage(report)),
  use: async (report, weights) => {
    const meta = await trainingController.saveImportedModel(report, weights);
    return meta.name;
  },
});
