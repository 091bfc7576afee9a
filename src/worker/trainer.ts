// The VoCo training loop, one step at a time. Plain TypeScript on tfjs: it runs inside the training worker and
// under Node (tests, benchmark). The active tfjs backend must be initialised before Trainer.create.
//
// One step (the authors' voco_head.py, TPAMI version):
//   plan B volumes' crops (seeded) → sample all crops at once (bases, then randoms) → one backbone embeds them
//   → student head on dropout(embeddings) → teacher head: EMA update (m = 0.9) first, then a forward without gradient
//   → intra + inter + reg → AdamW (amsgrad, decoupled weight decay) at the warmup/cosine learning rate.
// Everything the step reports is read back from the device in ONE small transfer (loss terms, gradient norm,
// intra predictions); the big tensors never leave the device.
import * as tf from '@tensorflow/tfjs-core';
import { AdamW } from '../voco/adamw';
import { REFERENCE_AUGMENT, batchCrops, planBatch, planLabels, type BatchPlan, type CropSpec } from '../voco/cropPlan';
import { positionLogits, vocoLosses } from '../voco/losses';
import { Rng } from '../voco/rng';
import { learningRate } from '../voco/schedule';
import { trainingVolume } from '../voco/wholeVolume';
import { HealthTracker, type DeviceHealth } from '../voco/health';
import { PROBE_CROPS, PROBE_EVERY, PROBE_REGIONS, probeAccuracy } from '../voco/probe';
import { packVolumes, type VolumeLayout } from '../kernels/packVolumes';
import { sumOfSquares } from '../kernels/sumSquares';
import { PRESETS, STUDENT_DROPOUT, VocoModel, embedDim, validatePreset, type EncoderPreset } from '../model';
import type { PreprocessedVolume } from '../volume/volume';
import type { CropBox, RunConfig, StepMetrics, TrainerState } from './protocol';

/** Reference teacher-head momentum (voco_head.py). */
export const DEFAULT_EMA_MOMENTUM = 0.9;
/** Crops per embedCrops batch: bounds the activation memory of a similarity map. */
const EMBED_CHUNK = 16;
/** Leading values of the per-step readback before the intra predictions: loss, intra, inter, reg, ‖g‖². */
const SUMMARY_HEAD = 5;

/** Thrown by step() when the loss or the gradients are not finite. The update was NOT applied. */
export class NonFiniteLossError extends Error {
  constructor(
    readonly step: number,
    readonly terms: { loss: number; intra: number; inter: number; reg: number; gradNorm: number },
  ) {
    const f = (v: number) => (Number.isFinite(v) ? v.toPrecision(4) : String(v));
    super(
      `Step ${step}: the loss is not finite (loss ${f(terms.loss)}, intra ${f(terms.intra)}, inter ${f(terms.inter)}, ` +
        `reg ${f(terms.reg)}, gradient norm ${f(terms.gradNorm)}); the update was skipped and the weights are the ` +
        `last good ones. Lower the learning rate, enable gradient clipping, or load a checkpoint.`,
    );
    this.name = 'NonFiniteLossError';
  }
}

export class Trainer {
  /** Test-only: multiply the next step's loss by NaN (exercises the non-finite guard without corrupting data). */
  poisonNextStep = false;
  /**
   * Training health (src/voco/health.ts) rides on every healthEvery-th step's metrics (step index ≡ 0); 0 turns it
   * off. The device part is a few reductions of the step's projections read back with the step's summary.
   */
  healthEvery = 5;
  /**
   * Every probeEvery-th step (step index ≡ 0, and the schedule's last step) carries `probe`: position accuracy on a
   * fixed set of clean crops of the training volumes (positionProbe). 0 turns it off.
   */
  probeEvery = PROBE_EVERY;
  private health: HealthTracker;

  private config: RunConfig;
  private readonly volumeIds: string[];
  private readonly dims: [number, number, number][];
  /** What training crops are cut from: the packed volumes themselves, or (whole-volume mode) their resized copies. */
  private readonly train: { packed: tf.Tensor1D; layout: VolumeLayout[]; dims: [number, number, number][] };
  private rng: Rng;
  private dropoutRng: Rng;
  private volumeOrder: number[] = [];
  private volumeCursor = 0;
  private step_ = 0;
  private disposed = false;

  private constructor(
    config: RunConfig,
    readonly preset: EncoderPreset,
    private readonly model: VocoModel,
    private readonly optimizer: AdamW,
    private readonly packed: tf.Tensor1D,
    private readonly layout: VolumeLayout[],
    volumeIds: string[],
    train: { packed: tf.Tensor1D; layout: VolumeLayout[] } | null,
  ) {
    this.config = { ...config };
    this.volumeIds = volumeIds;
    this.dims = layout.map((l) => l.dims);
    const t = train ?? { packed, layout };
    this.train = { ...t, dims: t.layout.map((l) => l.dims) };
    this.health = new HealthTracker(config.gradClip);
    this.rng = new Rng(config.seed);
    // A separate stream for the dropout rows, so that the crop plans do not depend on how many rows a step has.
    this.dropoutRng = new Rng((config.seed ^ 0x0d0d0d0d) >>> 0);
  }

  /**
   * Validates the run, packs the volumes ONCE into a device-resident 1-D tensor (in config.volumeIds order) and
   * builds the seeded model and optimizer. `volumes` may hold more volumes than the run uses.
   */
  static async create(config: RunConfig, volumes: PreprocessedVolume[]): Promise<Trainer> {
    const preset = checkConfig(config);
    const chosen = config.volumeIds.map((id) => {
      const v = volumes.find((x) => x.id === id);
      if (!v) throw new Error(`Run config names volume "${id}", but it was not passed to the trainer (have: ${volumes.map((x) => x.id).join(', ') || 'none'})`);
      checkVolumeData(v);
      return v;
    });
    const { data, layout } = packVolumes(chosen.map((v) => ({ dims: v.dims, data: v.data, name: v.name })));
    const packed = tf.tensor1d(data);
    // Whole-volume mode trains on copies resized to the region; maps and embeddings keep the volumes' own grid.
    let train: { packed: tf.Tensor1D; layout: VolumeLayout[] } | null = null;
    if ((config.dataMode ?? 'region') === 'whole') {
      const resized = chosen.map((v) => ({ ...trainingVolume(v.data, v.dims, 'whole', config.gridN, config.cropSize), name: v.name }));
      const p = packVolumes(resized);
      train = { packed: tf.tensor1d(p.data), layout: p.layout };
    }
    let model: VocoModel | null = null;
    try {
      model = VocoModel.create(preset, config.cropSize, config.seed);
      const optimizer = new AdamW({
        weightDecay: config.weightDecay,
        amsgrad: true,
        clipNorm: config.gradClip > 0 ? config.gradClip : undefined,
      });
      return new Trainer(config, preset, model, optimizer, packed, layout, [...config.volumeIds], train);
    } catch (err) {
      model?.dispose();
      packed.dispose();
      train?.packed.dispose();
      throw err;
    }
  }

  /** Number of optimizer steps taken; the next step() has this index. */
  get stepIndex(): number {
    return this.step_;
  }

  /** A copy of the run configuration in force. */
  get runConfig(): RunConfig {
    return { ...this.config };
  }

  /** Length of one embedding (input width of the heads). */
  get embedDim(): number {
    return embedDim(this.preset);
  }

  /** Parameters of the encoder, of one head, and of everything stored (encoder + student head + teacher head). */
  paramCounts(): { encoder: number; head: number; total: number } {
    const trainable = new Set(this.model.trainableVariables());
    let total = 0;
    let head = 0;
    for (const { tensor } of this.model.namedWeights()) {
      total += tensor.size;
      if (!trainable.has(tensor)) head += tensor.size; // the teacher head mirrors the student head
    }
    return { encoder: total - 2 * head, head, total };
  }

  /** Changes the schedule length (the cosine decay follows it). */
  setTotalSteps(totalSteps: number): void {
    if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new Error(`total steps must be an integer ≥ 1, got ${totalSteps}`);
    this.config = { ...this.config, totalSteps };
  }

  /** One optimizer step. Throws NonFiniteLossError (weights untouched, step index unchanged) on a non-finite loss. */
  async step(): Promise<StepMetrics> {
    this.checkAlive();
    const t0 = performance.now();
    const cfg = this.config;
    const n = cfg.gridN;
    const r = cfg.cropSize;
    const sw = cfg.randomCrops;
    const nb = n * n;
    const stepIndex = this.step_;

    const plan = this.nextPlan();
    const B = plan.volumes.length;
    const lr = learningRate(stepIndex, { lr: cfg.lr, warmupSteps: cfg.warmupSteps, totalSteps: cfg.totalSteps, minLr: cfg.minLr });
    const rowKeep = this.nextDropoutRows(B * (nb + sw));

    // The teacher EMA happens before the forward pass; keep the old teacher to restore it if the step is rejected.
    const teacherVars = this.teacherVariables();
    const teacherBackup = teacherVars.map((v) => tf.clone(v));
    const restoreTeacher = () => teacherVars.forEach((v, i) => v.assign(teacherBackup[i]));
    const poison = this.poisonNextStep;
    this.poisonNextStep = false;
    const vars = this.model.trainableVariables();
    const withHealth = this.healthEvery > 0 && stepIndex % this.healthEvery === 0;
    let values: Float32Array;
    let gradList: tf.Tensor[];
    try {
      this.model.emaUpdate(cfg.emaMomentum ?? DEFAULT_EMA_MOMENTUM);
      const fb = this.forwardBackward(plan, rowKeep, vars, poison, withHealth);
      gradList = fb.grads;
      try {
        values = (await fb.summary.data()) as Float32Array;
      } catch (err) {
        tf.dispose(gradList);
        throw err;
      } finally {
        fb.summary.dispose();
      }
    } catch (err) {
      restoreTeacher();
      tf.dispose(teacherBackup);
      throw err;
    }
    const [loss, intra, inter, reg, gradSq] = values;
    const gradNorm = Math.sqrt(gradSq);

    if (![loss, intra, inter, reg, gradNorm].every(Number.isFinite)) {
      tf.dispose(gradList);
      restoreTeacher();
      tf.dispose(teacherBackup);
      throw new NonFiniteLossError(stepIndex, { loss, intra, inter, reg, gradNorm });
    }
    tf.dispose(teacherBackup);
    try {
      // The norm was read with the loss: the optimizer does not measure it again.
      this.optimizer.apply(vars, gradList, lr, gradNorm);
    } finally {
      tf.dispose(gradList);
    }
    this.step_ = stepIndex + 1;

    const predictions = values.subarray(SUMMARY_HEAD, SUMMARY_HEAD + B * sw * nb);
    const metrics: StepMetrics = {
      step: stepIndex,
      loss,
      intra,
      inter,
      reg,
      lr,
      stepMs: performance.now() - t0,
      gradNorm,
      labels: plan.volumes.map((v) => v.labels.map((l) => Array.from(l))),
      predictions: plan.volumes.map((_, b) =>
        Array.from({ length: sw }, (_, s) => Array.from(predictions.subarray((b * sw + s) * nb, (b * sw + s + 1) * nb))),
      ),
      regions: plan.volumes.map((v) => ({
        volumeId: this.volumeIds[v.volume],
        origin: [...v.regionOrigin] as [number, number, number],
        crops: [...v.bases.map((c) => cropBox(c, r, 'base')), ...v.randoms.map((c) => cropBox(c, r, 'random'))],
        ...(this.train.packed !== this.packed
          ? { scale: [0, 1, 2].map((a) => this.dims[v.volume][a] / this.train.dims[v.volume][a]) as [number, number, number] }
          : {}),
      })),
    };
    if (this.probeEvery > 0 && (stepIndex % this.probeEvery === 0 || stepIndex === cfg.totalSteps - 1)) {
      metrics.probe = await this.positionProbe();
    }
    this.health.add(metrics);
    if (withHealth) {
      const th = performance.now();
      metrics.health = this.health.report(readDeviceHealth(values.subarray(SUMMARY_HEAD + B * sw * nb), B * (nb + sw)), 0);
      metrics.health.ms = performance.now() - th;
    }
    return metrics;
  }

  /**
   * Loss terms, intra predictions and the gradient of every trainable variable for the batch that the next step()
   * would draw, without changing anything (no EMA update, no optimizer step, RNGs untouched). For backend parity
   * checks: the same run on two backends must give the same numbers.
   */
  async probeGradients(): Promise<{
    loss: number; intra: number; inter: number; reg: number; gradNorm: number;
    logits: Float32Array; grads: { name: string; data: Float32Array }[];
  }> {
    this.checkAlive();
    const saved = { rng: this.rng.getState(), dropout: this.dropoutRng.getState(), order: [...this.volumeOrder], cursor: this.volumeCursor };
    let plan: BatchPlan;
    let rowKeep: boolean[];
    try {
      plan = this.nextPlan();
      rowKeep = this.nextDropoutRows(plan.volumes.length * (this.config.gridN ** 2 + this.config.randomCrops));
    } finally {
      this.rng = Rng.fromState(saved.rng.map((v) => v >>> 0));
      this.dropoutRng = Rng.fromState(saved.dropout.map((v) => v >>> 0));
      this.volumeOrder = saved.order;
      this.volumeCursor = saved.cursor;
    }
    const vars = this.model.trainableVariables();
    const { summary, grads } = this.forwardBackward(plan, rowKeep, vars, false);
    try {
      const values = (await summary.data()) as Float32Array;
      const gradData = await Promise.all(grads.map((g) => g.data() as Promise<Float32Array>));
      const names = new Map(this.model.namedWeights().map((w) => [w.tensor, w.name]));
      return {
        loss: values[0], intra: values[1], inter: values[2], reg: values[3], gradNorm: Math.sqrt(values[4]),
        logits: values.slice(SUMMARY_HEAD),
        grads: vars.map((v, i) => ({ name: names.get(v) ?? v.name, data: gradData[i] })),
      };
    } finally {
      summary.dispose();
      tf.dispose(grads);
    }
  }

  /** Everything needed to continue this run exactly (read back from the device). Call between steps. */
  async exportState(): Promise<TrainerState> {
    this.checkAlive();
    // Stored layout (VocoModel.readWeights: the Swin backbone's weights in the authors' PyTorch layout), fresh copies.
    const weights = await this.model.readWeights();
    const opt = await this.optimizer.getState();
    return {
      format: 'voco-trainer-state',
      version: 1,
      config: structuredClone(this.config),
      step: this.step_,
      weights,
      optimizer: { step: opt.step, tensors: { ...opt.tensors } },
      rng: this.rng.getState().map((v) => v >>> 0),
      volumeOrder: [...this.volumeOrder],
      volumeCursor: this.volumeCursor,
      dropoutRng: this.dropoutRng.getState().map((v) => v >>> 0),
    };
  }

  /**
   * Restores a state exported by a trainer of the same model (preset, crop size) on the same volumes; training then
   * continues exactly as the exporting run would have. The state's config replaces this trainer's.
   */
  importState(s: TrainerState): void {
    this.checkAlive();
    if (!s || s.format !== 'voco-trainer-state' || s.version !== 1) {
      throw new Error(`Not a VoCo trainer state (format ${JSON.stringify(s?.format)}, version ${JSON.stringify(s?.version)})`);
    }
    const c = s.config;
    const mismatch: string[] = [];
    if (c.preset !== this.config.preset) mismatch.push(`preset ${c.preset} ≠ ${this.config.preset}`);
    if (c.cropSize !== this.config.cropSize) mismatch.push(`crop size ${c.cropSize} ≠ ${this.config.cropSize}`);
    if (c.volumeIds.join('\u0000') !== this.volumeIds.join('\u0000')) {
      mismatch.push(`volumes [${c.volumeIds.join(', ')}] ≠ [${this.volumeIds.join(', ')}]`);
    }
    if (mismatch.length) {
      throw new Error(`Checkpoint does not fit this trainer (${mismatch.join('; ')}); create a Trainer with the checkpoint's config first`);
    }
    checkConfig(c);
    const problems = this.model.weightProblems(s.weights);
    if (problems.length) {
      throw new Error(`Checkpoint weights do not match the model: ${problems.slice(0, 6).join('; ')}${problems.length > 6 ? `; and ${problems.length - 6} more` : ''}`);
    }
    const rng = Rng.fromState(s.rng);
    const dropoutRng = Rng.fromState(s.dropoutRng);
    if (!Array.isArray(s.volumeOrder) || s.volumeOrder.some((v) => !Number.isInteger(v) || v < 0 || v >= this.volumeIds.length)) {
      throw new Error(`Checkpoint volume order ${JSON.stringify(s.volumeOrder)} does not fit ${this.volumeIds.length} volumes`);
    }
    // All checks passed: now mutate.
    this.model.loadWeights(s.weights);
    this.optimizer.setState(s.optimizer);
    this.rng = rng;
    this.dropoutRng = dropoutRng;
    this.volumeOrder = [...s.volumeOrder];
    this.volumeCursor = s.volumeCursor;
    this.step_ = s.step;
    this.config = structuredClone(c);
    this.health = new HealthTracker(c.gradClip);
  }

  /**
   * GAP embeddings (model.embed) of the given crops of the run's volumes (CropSpec.volume indexes config.volumeIds),
   * `crops.length × embedDim` floats, row-major. Batched to bound memory.
   */
  async embedCrops(crops: CropSpec[]): Promise<Float32Array> {
    this.checkAlive();
    const dim = this.embedDim;
    const out = new Float32Array(crops.length * dim);
    for (const c of crops) {
      if (!Number.isInteger(c.volume) || c.volume < 0 || c.volume >= this.layout.length) {
        throw new Error(`embedCrops: crop volume index ${c.volume} is outside the run's ${this.layout.length} volumes`);
      }
    }
    for (let start = 0; start < crops.length; start += EMBED_CHUNK) {
      const chunk = crops.slice(start, start + EMBED_CHUNK);
      const emb = tf.tidy(() => this.model.embed(this.model.sampleInput(this.packed, this.layout, chunk)));
      try {
        out.set((await emb.data()) as Float32Array, start * dim);
      } finally {
        emb.dispose();
      }
    }
    return out;
  }

  /**
   * Embeddings [crops, embedDim] left on the device: one crop-sampler dispatch and one encoder forward, no readback.
   * `model` defaults to the run's own; another VocoModel of the same preset and crop size (untrained weights, a
   * checkpoint's) embeds the same crops for comparison. The caller disposes the result (similarity maps).
   */
  embedOnDevice(crops: CropSpec[], model: VocoModel = this.model): tf.Tensor2D {
    this.checkAlive();
    return tf.tidy(() => model.embed(model.sampleInput(this.packed, this.layout, crops)));
  }

  /**
   * Position prediction on clean crops: PROBE_REGIONS crop plans of the training volumes (what training cuts from:
   * the resized copies in whole-volume mode), drawn from a stream of their own seeded by the run's seed — the same
   * crops at every call, so successive values are a curve — with no augmentation and no dropout, scored as the
   * loss scores them (relu cosine of each random crop's student projection to every base crop's teacher
   * projection; argmax against the most-overlapped base). Training crops are augmented and pass dropout, so their
   * own accuracy understates what the encoder knows; this is the number that moves. One forward pass of
   * PROBE_REGIONS·(n² + PROBE_CROPS) crops; touches no training state.
   */
  async positionProbe(): Promise<{ accuracy: number; crops: number; ms: number }> {
    this.checkAlive();
    const t0 = performance.now();
    const n = this.config.gridN;
    const nb = n * n;
    const V = this.volumeIds.length;
    const rng = new Rng((this.config.seed ^ 0x5eed9b0b) >>> 0);
    const plans = Array.from({ length: PROBE_REGIONS / 2 }, (_, k) =>
      planBatch(rng, this.train.dims, [(2 * k) % V, (2 * k + 1) % V], { n, r: this.config.cropSize, sw: PROBE_CROPS, augment: null }),
    );
    const volumes = plans.flatMap((p) => p.volumes);
    const bases = volumes.flatMap((v) => v.bases);
    const randoms = volumes.flatMap((v) => v.randoms);
    // Embedded in chunks no larger than a training step's crops, so the probe never needs more memory than a step.
    const crops = [...bases, ...randoms];
    const chunk = Math.max(1, this.config.batchVolumes * (nb + this.config.randomCrops));
    const parts: tf.Tensor2D[] = [];
    for (let at = 0; at < crops.length; at += chunk) {
      parts.push(tf.tidy(() => this.model.embed(this.model.sampleInput(this.train.packed, this.train.layout, crops.slice(at, at + chunk))) as tf.Tensor2D));
    }
    const logits = tf.tidy(() => {
      const emb = parts.length === 1 ? parts[0] : (tf.concat(parts, 0) as tf.Tensor2D);
      const [eb, er] = tf.split(emb, [bases.length, randoms.length], 0) as tf.Tensor2D[];
      return positionLogits(this.model.student(er, false), this.model.teacher(eb));
    });
    tf.dispose(parts);
    let values: Float32Array;
    try {
      values = (await logits.data()) as Float32Array;
    } finally {
      logits.dispose();
    }
    const accuracy = probeAccuracy(values, volumes.map((v) => v.labels), nb);
    return { accuracy, crops: randoms.length, ms: performance.now() - t0 };
  }

  /** Dims of the run's preprocessed volumes, in config.volumeIds order. */
  get volumeDims(): [number, number, number][] {
    return this.dims.map((d) => [...d] as [number, number, number]);
  }

  /** Frees the model, optimizer state and packed volumes. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
    this.optimizer.dispose();
    this.packed.dispose();
    if (this.train.packed !== this.packed) this.train.packed.dispose();
  }

  // ---- internals ----------------------------------------------------------------------------------------

  private checkAlive(): void {
    if (this.disposed) throw new Error('Trainer was disposed');
  }

  /**
   * Forward (one backbone pass over all crops, both heads) and backward over `vars`. Returns the gradients and ONE
   * small tensor to read back: [loss, intra, inter, reg, ‖g‖², intra predictions…]. Disposes everything else.
   */
  private forwardBackward(plan: BatchPlan, rowKeep: boolean[], vars: tf.Variable[], poison: boolean, withHealth = false): { summary: tf.Tensor1D; grads: tf.Tensor[] } {
    const { n, r, sw } = plan;
    const nb = n * n;
    const B = plan.volumes.length;
    const labels = tf.tensor3d(planLabels(plan), [B, sw, nb]);
    // Patch tokens (ViT) or voxel crops (Swin): whatever the encoder takes, in one crop-sampler dispatch.
    const tokens = this.model.sampleInput(this.train.packed, this.train.layout, batchCrops(plan));
    let terms: tf.Tensor | null = null;
    let logits: tf.Tensor | null = null;
    let projections: [tf.Tensor2D, tf.Tensor2D] | null = null;
    try {
      const { value, grads } = tf.variableGrads(() => {
        const emb = this.model.embed(tokens);
        const student = this.model.student(emb, true, rowKeep);
        const teacher = this.model.teacher(emb);
        // Rows: all bases (volume-major, i*n+j), then all random crops (volume-major): batchCrops' order.
        const split = (t: tf.Tensor2D) => tf.split(t, [B * nb, B * sw], 0) as [tf.Tensor2D, tf.Tensor2D];
        const [basesStudent, xStudent] = split(student);
        const [basesTeacher, xTeacher] = split(teacher);
        const out = vocoLosses({ xStudent, basesStudent, xTeacher, basesTeacher, labels, batch: B, sw, bases: nb });
        const w = this.config.lossWeights;
        const weighted = w && !(w[0] === 1 && w[1] === 1 && w[2] === 1) ? tf.addN([tf.mul(out.intra, w[0]), tf.mul(out.inter, w[1]), tf.mul(out.reg, w[2])]) : out.total;
        const total = poison ? tf.mul(weighted, NaN) : weighted;
        terms = tf.keep(tf.stack([total, out.intra, out.inter, out.reg]));
        logits = tf.keep(out.logits);
        if (withHealth) projections = [tf.keep(student), tf.keep(teacher)];
        return total as tf.Scalar;
      }, vars);
      value.dispose();
      const gradList = vars.map((v) => grads[v.name]);
      const missing = vars.filter((_, i) => !gradList[i]);
      if (missing.length) {
        tf.dispose(Object.values(grads));
        throw new Error(`No gradient reached ${missing.length} trainable variable(s): the model's variable list and its graph disagree`);
      }
      const summary = tf.tidy(() => {
        // One pass on cpu/wasm (src/kernels/sumSquares.ts); pairwise tf ops elsewhere (not tf.addN: webgpu's AddN
        // binds all inputs at once and fails beyond 8 storage buffers per stage).
        const gradSq = sumOfSquares(gradList);
        const parts = [terms!, tf.reshape(gradSq, [1]), tf.reshape(logits!, [-1])];
        if (projections) parts.push(healthTensor(projections[0], projections[1]));
        return tf.concat(parts) as tf.Tensor1D;
      });
      return { summary, grads: gradList };
    } finally {
      tf.dispose([labels, tokens]);
      if (terms) tf.dispose(terms);
      if (logits) tf.dispose(logits);
      if (projections) tf.dispose(projections);
    }
  }

  /** The teacher head: every stored weight that is not trainable. */
  private teacherVariables(): tf.Variable[] {
    const trainable = new Set(this.model.trainableVariables());
    return this.model.namedWeights().map((w) => w.tensor).filter((t) => !trainable.has(t));
  }

  private nextPlan(): BatchPlan {
    const cfg = this.config;
    const opts = { n: cfg.gridN, r: cfg.cropSize, sw: cfg.randomCrops, augment: cfg.augment === false ? null : REFERENCE_AUGMENT };
    if (cfg.fixedBatch) {
      // Replay: the same volumes and the same plan every step, from a fresh stream.
      const indices = Array.from({ length: cfg.batchVolumes }, (_, i) => i % this.volumeIds.length);
      return planBatch(new Rng(cfg.seed), this.train.dims, indices, opts);
    }
    return planBatch(this.rng, this.train.dims, this.nextVolumeIndices(), opts);
  }

  /** Rows of the student's input that survive Dropout1d (drawn here so the stream is part of the trainer state). */
  private nextDropoutRows(rows: number): boolean[] {
    const rng = this.config.fixedBatch ? new Rng((this.config.seed ^ 0x0d0d0d0d) >>> 0) : this.dropoutRng;
    return Array.from({ length: rows }, () => !rng.bool(STUDENT_DROPOUT));
  }

  /**
   * B volumes for the next batch: epochs over a seeded shuffle of all volumes, B consecutive entries per batch.
   * A batch never holds a volume twice when there are at least B volumes (an epoch boundary could repeat one).
   */
  private nextVolumeIndices(): number[] {
    const V = this.volumeIds.length;
    const B = this.config.batchVolumes;
    const picked: number[] = [];
    while (picked.length < B) {
      if (this.volumeCursor >= this.volumeOrder.length) {
        this.volumeOrder = shuffled(V, this.rng);
        this.volumeCursor = 0;
      }
      let at = this.volumeCursor;
      if (V >= B && picked.includes(this.volumeOrder[at])) {
        // Swap in the first not-yet-picked volume of the rest of this epoch.
        let k = at + 1;
        while (k < V && picked.includes(this.volumeOrder[k])) k++;
        if (k < V) [this.volumeOrder[at], this.volumeOrder[k]] = [this.volumeOrder[k], this.volumeOrder[at]];
      }
      picked.push(this.volumeOrder[at]);
      this.volumeCursor = ++at;
    }
    return picked;
  }
}

/**
 * The device part of training health, as one flat tensor: per-dimension std (×√d) min and mean of the L2-normalised
 * student and teacher projections, their mean row-wise cosine, and the two rows×rows Gram matrices. Ranks ≤ 2.
 */
export function healthTensor(student: tf.Tensor2D, teacher: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const d = student.shape[1];
    const unit = (z: tf.Tensor2D) => tf.div(z, tf.maximum(tf.sqrt(tf.sum(tf.square(z), 1, true)), 1e-12)) as tf.Tensor2D;
    const us = unit(student);
    const ut = unit(teacher);
    const spread = (u: tf.Tensor2D) => {
      const std = tf.mul(tf.sqrt(tf.moments(u, 0).variance), Math.sqrt(d));
      return [tf.reshape(tf.min(std), [1]), tf.reshape(tf.mean(std), [1])];
    };
    const agreement = tf.reshape(tf.mean(tf.sum(tf.mul(us, ut), 1)), [1]);
    return tf.concat([
      ...spread(us),
      ...spread(ut),
      agreement,
      tf.reshape(tf.matMul(us, us, false, true), [-1]),
      tf.reshape(tf.matMul(ut, ut, false, true), [-1]),
    ]) as tf.Tensor1D;
  });
}

function readDeviceHealth(v: Float32Array, rows: number): DeviceHealth {
  const g = rows * rows;
  return {
    studentStdMin: v[0],
    studentStdMean: v[1],
    teacherStdMin: v[2],
    teacherStdMean: v[3],
    agreement: v[4],
    studentGram: v.slice(5, 5 + g),
    teacherGram: v.slice(5 + g, 5 + 2 * g),
    rows,
  };
}

function shuffled(count: number, rng: Rng): number[] {
  const a = Array.from({ length: count }, (_, i) => i);
  for (let i = count - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

function cropBox(c: CropSpec, size: number, kind: 'base' | 'random'): CropBox {
  return {
    volumeIndex: c.volume,
    origin: [...c.origin] as [number, number, number],
    size,
    kind,
    flip: [...c.flip] as [boolean, boolean, boolean],
    rot90: c.rot90,
    intensityShift: c.shift,
  };
}

/** Throws one message listing every problem of the config that the trainer itself depends on. */
function checkConfig(config: RunConfig): EncoderPreset {
  const problems: string[] = [];
  const int = (v: number, min: number, what: string) => {
    if (!Number.isInteger(v) || v < min) problems.push(`${what} must be an integer ≥ ${min}, got ${v}`);
  };
  const preset = PRESETS[config.preset];
  if (!preset) problems.push(`unknown model preset "${config.preset}" (have ${Object.keys(PRESETS).join(', ')})`);
  int(config.gridN, 2, 'grid n');
  int(config.cropSize, 2, 'crop size r');
  int(config.batchVolumes, 2, 'volumes per batch B');
  int(config.randomCrops, 1, 'random crops sw');
  int(config.totalSteps, 1, 'total steps');
  int(config.warmupSteps, 0, 'warmup steps');
  int(config.seed, 0, 'seed');
  if (config.dataMode !== undefined && config.dataMode !== 'region' && config.dataMode !== 'whole') {
    problems.push(`data mode must be "region" or "whole", got ${JSON.stringify(config.dataMode)}`);
  }
  if (!(config.lr > 0 && Number.isFinite(config.lr))) problems.push(`learning rate must be > 0, got ${config.lr}`);
  if (!(config.weightDecay >= 0)) problems.push(`weight decay must be ≥ 0, got ${config.weightDecay}`);
  if (!(config.gradClip >= 0)) problems.push(`gradient clip must be ≥ 0, got ${config.gradClip}`);
  const m = config.emaMomentum ?? DEFAULT_EMA_MOMENTUM;
  if (!(m >= 0 && m <= 1)) problems.push(`EMA momentum must be in [0, 1], got ${m}`);
  if (!Array.isArray(config.volumeIds) || config.volumeIds.length < 1) problems.push('no volumes selected');
  else if (new Set(config.volumeIds).size !== config.volumeIds.length) problems.push('a volume is selected twice');
  if (problems.length) throw new Error(`Invalid run config: ${problems.join('; ')}`);
  validatePreset(preset, config.cropSize);
  return preset;
}

function checkVolumeData(v: PreprocessedVolume): void {
  const d = v.data;
  for (let i = 0; i < d.length; i++) {
    if (!Number.isFinite(d[i])) {
      const nx = v.dims[0];
      const ny = v.dims[1];
      const at = [i % nx, Math.floor(i / nx) % ny, Math.floor(i / (nx * ny))];
      throw new Error(`Volume "${v.name}" (${v.id}) holds a non-finite value (${d[i]}) at voxel [${at.join(', ')}]; preprocess it again`);
    }
  }
}
