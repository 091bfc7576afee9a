// What each downstream task reports: its metrics (range, which way is better, the one the scaling view ranks by)
// and its learning curve. Plain data (no tensors), shared by the tasks in the worker and the benchmark panel.

export interface MetricSpec {
  key: string;
  label: string;
  range: [number, number];
  better: 'higher' | 'lower';
}

export interface CurveSpec {
  /** What the x axis counts. */
  x: string;
  /** The series the panel plots (others are kept in the export). */
  main: string;
  mainLabel: string;
  range: [number, number];
}

export interface TaskInfo {
  id: string;
  title: string;
  /** One sentence: what is measured and how. */
  description: string;
  needsLabels: boolean;
  metrics: MetricSpec[];
  /** Key of the metric the scaling view and the recommendation use. */
  primary: string;
  curve: CurveSpec;
}

export const TASK_CATALOG: TaskInfo[] = [
  {
    id: 'position',
    title: 'Position prediction',
    description:
      'VoCo’s own pretext on volumes left out of pre-training: each random crop’s predicted overlaps with the n×n base crops of its region ' +
      '(relu-cosine of the student and teacher projections) against the true overlaps. No labels needed.',
    needsLabels: false,
    metrics: [
      { key: 'accuracy', label: 'argmax accuracy', range: [0, 1], better: 'higher' },
      { key: 'mae', label: 'overlap MAE', range: [0, 1], better: 'lower' },
    ],
    primary: 'accuracy',
    curve: { x: 'crops scored', main: 'accuracy', mainLabel: 'running argmax accuracy', range: [0, 1] },
  },
  {
    id: 'organ-probe',
    title: 'Organ classification (linear probe)',
    description:
      'Crops centred inside labelled structures; frozen encoder features (GAP, all stages); a softmax-regression head fitted by ' +
      'full-batch gradient descent; accuracy and macro-F1 on held-out crops (held-out volumes when there are several; with one labelled ' +
      'scan, held-out blocks of it, no test crop sharing a voxel with a training crop; class-balanced). Mean over the repeated splits.',
    needsLabels: true,
    metrics: [
      { key: 'macroF1', label: 'macro-F1', range: [0, 1], better: 'higher' },
      { key: 'accuracy', label: 'accuracy', range: [0, 1], better: 'higher' },
    ],
    primary: 'macroF1',
    curve: { x: 'gradient steps', main: 'test macro-F1', mainLabel: 'held-out macro-F1', range: [0, 1] },
  },
  {
    id: 'few-shot-seg',
    title: 'Few-shot segmentation',
    description:
      'A light per-token head on the encoder’s token features (all stages), trained on K labelled crops; token scores are ' +
      'interpolated trilinearly to voxels; Dice per structure (pooled over the test crops) and their mean. Same split as the probe; mean over the repeated splits.',
    needsLabels: true,
    metrics: [{ key: 'meanDice', label: 'mean Dice', range: [0, 1], better: 'higher' }],
    primary: 'meanDice',
    curve: { x: 'training iterations', main: 'test mean Dice', mainLabel: 'held-out mean Dice', range: [0, 1] },
  },
  {
    id: 'retrieval',
    title: 'Retrieval',
    description:
      'For crops centred in each structure: the share of their k nearest neighbours (cosine of the GAP features) centred in the ' +
      'same structure; neighbours come from other volumes when several are labelled, and never share a voxel with the query when one is. ' +
      'Mean over the repeated crop samples.',
    needsLabels: true,
    metrics: [{ key: 'precisionAtK', label: 'precision@k', range: [0, 1], better: 'higher' }],
    primary: 'precisionAtK',
    curve: { x: 'k', main: 'precision@k', mainLabel: 'precision at each k', range: [0, 1] },
  },
];

export function taskInfo(id: string): TaskInfo {
  const t = TASK_CATALOG.find((x) => x.id === id);
  if (!t) throw new Error(`Unknown benchmark task "${id}" (have ${TASK_CATALOG.map((x) => x.id).join(', ')})`);
  return t;
}

export function metricSpec(task: string, metric: string): MetricSpec {
  const m = taskInfo(task).metrics.find((x) => x.key === metric);
  if (!m) throw new Error(`Task ${task} has no metric "${metric}"`);
  return m;
}
