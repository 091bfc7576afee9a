// Pure VoCo math on tfjs: seeded plans, position labels, losses, optimizer, schedule, EMA.
export { Rng } from './rng';
export { positionLabels } from './positionLabels';
export { planBatch, batchCrops, planLabels, regionSize, REFERENCE_AUGMENT } from './cropPlan';
export type { CropSpec, AugmentConfig, VolumePlan, BatchPlan, PlanOptions } from './cropPlan';
export { positionLogits, vocoLosses, vocoCe, normalizeRows, stopGradient } from './losses';
export type { VocoLossInput, VocoLossOutput } from './losses';
export { learningRate } from './schedule';
export type { ScheduleConfig } from './schedule';
export { AdamW } from './adamw';
export type { AdamWOptions, AdamWResult, AdamWState } from './adamw';
export { emaUpdate } from './ema';
export { resizeTrilinear, trainingVolume, DATA_MODES } from './wholeVolume';
export type { DataMode } from './wholeVolume';
