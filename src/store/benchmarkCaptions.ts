// Honest captions for benchmark scores, derived from what the run actually did (pure, unit-tested in
// test/benchmark-captions.test.ts; shown as visible text beside the results table):
// - "scored scans were used for pre-training: this measures fit, not transfer" when a scored scan is among the
//   scans any scored (pre-trained) weights set was trained on;
// - "one labelled scan: optimistic" when a label task (probe, segmentation, retrieval) was scored with a single
//   labelled scan, so its train and test crops come from the same patient.
import { TASK_CATALOG } from '../eval/tasks/catalog';

export const FIT_CAPTION = 'scored scans were used for pre-training: this measures fit, not transfer';
export const ONE_LABELLED_CAPTION = 'one labelled scan: optimistic';

export interface CaptionFacts {
  /** The scans the tasks scored on. */
  evalVolumes: { id: string; name: string; labelled: boolean }[];
  /** Each scored weights set with the ids of the scans it was pre-trained on (empty for random weights). */
  weights: { id: string; label: string; trainedOn: string[] }[];
  /** Task ids that produced at least one score. */
  scoredTasks: string[];
}

export interface Caption {
  kind: 'fit' | 'one-labelled';
  text: string;
  /** Which scans and weights (fit) or which scan and tasks (one labelled) it is about. */
  detail: string;
}

const needsLabels = (task: string) => TASK_CATALOG.find((t) => t.id === task)?.needsLabels ?? false;

export function benchmarkCaptions(f: CaptionFacts): Caption[] {
  const out: Caption[] = [];
  const scored = new Map(f.evalVolumes.map((v) => [v.id, v.name]));
  const fit = f.weights
    .map((w) => ({ w, seen: [...new Set(w.trainedOn)].filter((id) => scored.has(id)) }))
    .filter((x) => x.seen.length > 0);
  if (fit.length) {
    const scans = [...new Set(fit.flatMap((x) => x.seen))].map((id) => scored.get(id)!);
    out.push({ kind: 'fit', text: FIT_CAPTION, detail: `${scans.join(', ')} ${scans.length === 1 ? 'was' : 'were'} in the pre-training of ${fit.map((x) => x.w.label).join('; ')}` });
  }
  const labelTasks = f.scoredTasks.filter(needsLabels);
  const labelled = f.evalVolumes.filter((v) => v.labelled);
  if (labelTasks.length && labelled.length === 1) {
    out.push({
      kind: 'one-labelled',
      text: ONE_LABELLED_CAPTION,
      detail: `${labelTasks.join(', ')} split the crops of ${labelled[0].name} alone: train and test crops come from the same scan (split by blocks, so no test crop shares a voxel with a training crop, but the same patient)`,
    });
  }
  return out;
}

/**
 * The facts from a results snapshot: its configuration (as the benchmark controller describes a request:
 * evalVolumes with `labelled`, pretrainVolumes, weights with `trainedOn`), the scored weights and the scores.
 * Weights at step 0 are random initialisations (trained on nothing); the sweep's weights were trained on the
 * request's pre-training scans; any other trained weights on their own scans plus the scans marked "pre-train".
 */
export function captionFacts(r: {
  config: unknown;
  weights: { id: string; label: string; step: number; source: string }[];
  scores: { task: string; weightsId: string }[];
}): CaptionFacts | null {
  const c = r.config as {
    evalVolumes?: { id: string; name: string; labelled?: boolean }[];
    pretrainVolumes?: { id: string }[];
    weights?: { id: string; trainedOn?: string[] }[];
  } | null;
  if (!c || !Array.isArray(c.evalVolumes)) return null;
  const declared = (c.pretrainVolumes ?? []).map((v) => v.id);
  const own = new Map((c.weights ?? []).map((w) => [w.id, w.trainedOn ?? []]));
  return {
    evalVolumes: c.evalVolumes.map((v) => ({ id: v.id, name: v.name, labelled: !!v.labelled })),
    weights: r.weights
      .filter((w) => r.scores.some((s) => s.weightsId === w.id))
      .map((w) => ({
        id: w.id,
        label: w.label,
        trainedOn: w.step === 0 || w.source === 'initial' ? [] : w.source === 'sweep' ? declared : [...declared, ...(own.get(w.id) ?? [])],
      })),
    scoredTasks: [...new Set(r.scores.map((s) => s.task))],
  };
}
