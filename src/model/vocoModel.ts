// The VoCo model: one encoder embeds every crop; a student projection head (trained, with row dropout on
// its input) and a teacher head (same shape, initialised independently, moved toward the student by EMA).
// Two encoder families behind one surface: the studio's ViT-3D over patch tokens, and the authors' VoCo backbone
// (src/model/swin/, weights named as their VoCoHead.state_dict()) over voxel crops. sampleInput() cuts whichever
// input the encoder takes out of the device-resident volumes, so callers never look at the family.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core alone registers no gradients; training through this module needs them all.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { Rng } from '../voco/rng';
import { sampleCrops, type CropSpec } from '../kernels/cropSampler';
import type { VolumeLayout } from '../kernels/packVolumes';
import { Encoder } from './encoder';
import type { LinearParams } from './layers/linear';
import { SwinEncoder } from './swin/swinEncoder';
import { initSwinWeights } from './swin/weights';
import { internalToTorch, swinStateDictSpec, torchToInternal, type StateDictEntry } from './swin/stateDict';
import { createProjectionHead, dropout1dRows, projectionHead, STUDENT_DROPOUT, withoutGradient, type ProjectionHeadParams } from './heads';
import { ParamFactory, weightSeed, type NamedVariable } from './init';
import { embedDim, isSwinPreset, swinConfigOf, validatePreset, type EncoderPreset } from './presets';
import type { NamedTensorData } from './weights';

export class VocoModel {
  readonly embedDim: number;
  private readonly encoder: Encoder | SwinEncoder;
  /** Swin: each weight's PyTorch layout (stored form); null for the ViT, whose stored form is the device layout. */
  private readonly torchLayout: Map<string, StateDictEntry> | null = null;
  private readonly studentHead: ProjectionHeadParams;
  private readonly teacherHead: ProjectionHeadParams;
  private readonly encoderVars: NamedVariable[];
  private readonly studentVars: NamedVariable[];
  private readonly teacherVars: NamedVariable[];
  /** Draws the student's dropout rows; seeded from the model seed, state saved with checkpoints. */
  private dropoutRng: Rng;
  private disposed = false;

  private constructor(
    readonly preset: EncoderPreset,
    readonly cropSize: number,
    readonly seed: number,
  ) {
    validatePreset(preset, cropSize);
    this.embedDim = embedDim(preset);
    if (isSwinPreset(preset)) {
      // Every weight keyed as the authors' state_dict; heads are 'student.layer{1,2,3}.0.*' / 'teacher.*'.
      const cfg = swinConfigOf(preset);
      const weights = initSwinWeights(cfg, seed);
      this.torchLayout = new Map(swinStateDictSpec(cfg).map((e) => [e.key, e]));
      const named = [...weights].map(([name, variable]) => ({ name, variable }));
      this.encoder = new SwinEncoder(cfg, weights);
      this.encoderVars = named.filter((v) => v.name.startsWith('backbone.'));
      this.studentVars = named.filter((v) => v.name.startsWith('student.'));
      this.teacherVars = named.filter((v) => v.name.startsWith('teacher.'));
      const head = (h: string): ProjectionHeadParams => {
        const lin = (k: string) => ({ weight: weights.get(`${h}.${k}.0.weight`)!, bias: weights.get(`${h}.${k}.0.bias`)! }) as LinearParams;
        return { fc0: lin('layer1'), fc3: lin('layer2'), fc6: lin('layer3') };
      };
      this.studentHead = head('student');
      this.teacherHead = head('teacher');
    } else {
      const enc = new ParamFactory(seed, 'encoder.', true);
      const stu = new ParamFactory(seed, 'student.', true);
      const tea = new ParamFactory(seed, 'teacher.', false);
      this.encoder = new Encoder(preset, enc);
      this.studentHead = createProjectionHead(stu, this.embedDim, preset.headHidden, preset.headOut);
      this.teacherHead = createProjectionHead(tea, this.embedDim, preset.headHidden, preset.headOut);
      this.encoderVars = enc.created;
      this.studentVars = stu.created;
      this.teacherVars = tea.created;
    }
    this.dropoutRng = new Rng(weightSeed(seed, 'student.dropout'));
  }

  /** Seeded, deterministic initialisation: the same (preset, seed) gives bit-identical weights on every backend. */
  static create(preset: EncoderPreset, cropSize: number, seed: number): VocoModel {
    if (!Number.isInteger(seed)) throw new Error(`VocoModel.create: seed must be an integer, got ${seed}`);
    return new VocoModel(preset, cropSize, seed);
  }

  /** The family of the encoder: 'swin' takes voxel crops [N, r, r, r], 'vit' patch tokens [N, T, p³]. */
  get family(): 'vit' | 'swin' {
    return this.encoder instanceof SwinEncoder ? 'swin' : 'vit';
  }

  /**
   * The encoder's input for `crops` of the packed volumes, in one crop-sampler dispatch: patch tokens [N, T, p³]
   * (ViT), or voxel crops [N, r, r, r] in PyTorch's (D, H, W) = (x, y, z) order (Swin: MONAI reads NIfTI as x, y, z,
   * so imported weights see the axes they were trained on). No gradient: the volumes are data.
   */
  sampleInput(packed: tf.Tensor1D, layout: VolumeLayout[], crops: CropSpec[]): tf.Tensor {
    this.assertLive();
    const r = this.cropSize;
    if (this.family === 'vit') return sampleCrops(packed, layout, crops, r, this.preset.patch);
    return tf.tidy(() => {
      // One "patch" of r³ voxels per crop, x fastest → [N, z, y, x] → [N, x, y, z] (rank 4: safe on webgpu).
      const zyx = tf.reshape(sampleCrops(packed, layout, crops, r, r), [crops.length, r, r, r]);
      return tf.transpose(zyx, [0, 3, 2, 1]);
    });
  }

  /** The encoder's input (sampleInput) → multi-scale embedding [N, embedDim]. */
  embed(input: tf.Tensor): tf.Tensor2D {
    this.assertLive();
    return tf.tidy(() => (this.encoder instanceof SwinEncoder ? this.encoder.forward(input as tf.Tensor4D) : this.encoder.forward(input as tf.Tensor3D)));
  }

  /**
   * The encoder's input → per-token multi-scale features [N, T, embedDim] (their mean over T is embed()). ViT: T
   * patch tokens; Swin: T = (r/32)³ blocks of 32³ voxels (the preset's patch), in the crop sampler's token order.
   */
  embedTokens(input: tf.Tensor): tf.Tensor3D {
    this.assertLive();
    return tf.tidy(() => (this.encoder instanceof SwinEncoder ? this.encoder.forwardTokens(input as tf.Tensor4D, this.preset.patch) : this.encoder.forwardTokens(input as tf.Tensor3D)));
  }

  /**
   * Student head. training: Dropout1d(0.2) on the input, which zeroes whole rows (see dropout1dRows);
   * the rows are drawn from the model's seeded stream unless `rowKeep` gives them.
   */
  student(emb: tf.Tensor2D, training: boolean, rowKeep?: readonly boolean[]): tf.Tensor2D {
    this.assertLive();
    this.assertEmbedding(emb, 'student');
    const keep = training ? (rowKeep ?? this.drawDropoutRows(emb.shape[0])) : null;
    return tf.tidy(() => projectionHead(keep ? dropout1dRows(emb, keep, STUDENT_DROPOUT) : emb, this.studentHead));
  }

  /** Teacher head on the same embeddings, without dropout and without gradient (torch.no_grad in the reference). */
  teacher(emb: tf.Tensor2D): tf.Tensor2D {
    this.assertLive();
    this.assertEmbedding(emb, 'teacher');
    return tf.tidy(() => withoutGradient(emb, (e) => projectionHead(e, this.teacherHead)));
  }

  /** Draws the rows that survive the student's dropout (each kept with probability 0.8). */
  drawDropoutRows(rows: number): boolean[] {
    return Array.from({ length: rows }, () => !this.dropoutRng.bool(STUDENT_DROPOUT));
  }

  getDropoutRngState(): number[] {
    return this.dropoutRng.getState();
  }

  setDropoutRngState(state: number[]): void {
    this.dropoutRng = Rng.fromState(state);
  }

  /** teacher ← m·teacher + (1 − m)·student, for every head weight (the reference updates before the teacher's forward). */
  emaUpdate(momentum: number): void {
    this.assertLive();
    if (!(momentum >= 0 && momentum <= 1)) throw new Error(`emaUpdate: momentum must be in [0, 1], got ${momentum}`);
    tf.tidy(() => {
      this.teacherVars.forEach((t, i) => {
        const s = this.studentVars[i].variable;
        t.variable.assign(tf.add(tf.mul(t.variable, momentum), tf.mul(s, 1 - momentum)));
      });
    });
  }

  /** The encoder's variables (fine-tuning in the benchmark). */
  encoderVariables(): tf.Variable[] {
    return this.encoderVars.map((v) => v.variable);
  }

  /** Encoder + student head: what the optimiser updates. */
  trainableVariables(): tf.Variable[] {
    return [...this.encoderVars, ...this.studentVars].map((v) => v.variable);
  }

  /**
   * Every weight incl. the teacher, in a stable order, with stable names ('encoder.blocks.0.attn.qkv.weight',
   * 'student.0.bias', 'teacher.6.weight', …; Swin: the authors' state_dict keys), as the device holds them (our layouts).
   */
  namedWeights(): { name: string; tensor: tf.Variable }[] {
    return [...this.encoderVars, ...this.studentVars, ...this.teacherVars].map((v) => ({ name: v.name, tensor: v.variable }));
  }

  /**
   * Name and shape of every weight as stored outside the device (checkpoints, run files, exports): the device layout
   * for the ViT; for the Swin backbone the authors' PyTorch layout (linear [out, in], conv [Cout, Cin, k, k, k]), so
   * that a saved run IS their state_dict (src/model/checkpoints reads and writes it as is).
   */
  storedShapes(): { name: string; shape: number[] }[] {
    return this.namedWeights().map((w) => ({ name: w.name, shape: this.torchLayout?.get(w.name)?.torchShape ?? [...w.tensor.shape] }));
  }

  /** Downloads every weight in the stored layout (storedShapes), as fresh copies. */
  async readWeights(): Promise<NamedTensorData[]> {
    this.assertLive();
    const named = this.namedWeights();
    const data = await Promise.all(named.map((w) => w.tensor.data() as Promise<Float32Array>));
    const shapes = this.storedShapes();
    return named.map((w, i) => {
      const e = this.torchLayout?.get(w.name);
      // Copies: the result may be transferred to another thread, and on WebGPU tfjs caches what data() returned.
      return { name: w.name, shape: shapes[i].shape, data: e ? internalToTorch(e, data[i]) : data[i].slice() };
    });
  }

  /** Why `named` (stored layout) cannot be loaded: missing, unexpected or misshaped weights; empty when it can. */
  weightProblems(named: NamedTensorData[]): string[] {
    const byName = new Map(named.map((w) => [w.name, w]));
    const problems: string[] = [];
    for (const { name, shape } of this.storedShapes()) {
      const src = byName.get(name);
      const size = shape.reduce((a, b) => a * b, 1);
      if (!src) problems.push(`missing '${name}'`);
      else if (src.shape.length !== shape.length || src.shape.some((d, i) => d !== shape[i])) problems.push(`'${name}' has shape [${src.shape}], the model needs [${shape}]`);
      else if (src.data.length !== size) problems.push(`'${name}' has ${src.data.length} values for shape [${src.shape}]`);
    }
    const ownNames = new Set(this.namedWeights().map((w) => w.name));
    for (const name of byName.keys()) if (!ownNames.has(name)) problems.push(`unexpected '${name}'`);
    return problems;
  }

  /** Loads weights (stored layout) by name; every weight of the model must be present with its shape, and nothing else. */
  loadWeights(named: NamedTensorData[]): void {
    this.assertLive();
    const problems = this.weightProblems(named);
    if (problems.length) {
      const shown = problems.slice(0, 8).join('; ');
      throw new Error(`loadWeights (preset '${this.preset.name}'): ${shown}${problems.length > 8 ? `; and ${problems.length - 8} more` : ''}`);
    }
    const byName = new Map(named.map((w) => [w.name, w]));
    tf.tidy(() => {
      for (const w of this.namedWeights()) {
        const e = this.torchLayout?.get(w.name);
        const src = byName.get(w.name)!.data;
        w.tensor.assign(tf.tensor(e ? torchToInternal(e, src) : src, w.tensor.shape, 'float32'));
      }
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.encoder.dispose();
    for (const w of this.namedWeights()) w.tensor.dispose();
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('VocoModel: used after dispose()');
  }

  private assertEmbedding(emb: tf.Tensor, who: string): void {
    if (emb.rank !== 2 || emb.shape[1] !== this.embedDim) {
      throw new Error(`VocoModel.${who}: expected embeddings [N, ${this.embedDim}], got [${emb.shape}]`);
    }
  }
}
