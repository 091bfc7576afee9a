// Learning-rate schedule: linear warmup from 0, then half a cosine down to minLr (the reference's
// WarmupCosineSchedule with minLr = 0). `step` counts optimizer steps from 0; like torch's LambdaLR stepped
// after each update, step 0 gets lr·0/warmup = 0.

export interface ScheduleConfig {
  lr: number;
  warmupSteps: number;
  totalSteps: number;
  minLr?: number;
}

export function learningRate(step: number, cfg: ScheduleConfig): number {
  const { lr, warmupSteps, totalSteps } = cfg;
  const minLr = cfg.minLr ?? 0;
  if (!(step >= 0)) throw new Error(`learningRate: step must be ≥ 0, got ${step}`);
  if (!(warmupSteps >= 0) || !(totalSteps >= 0)) {
    throw new Error(`learningRate: warmupSteps and totalSteps must be ≥ 0, got ${warmupSteps}, ${totalSteps}`);
  }
  if (step < warmupSteps) return (lr * step) / warmupSteps;
  const span = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / span);
  return minLr + (lr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
