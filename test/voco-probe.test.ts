// The clean position probe: its scoring on a hand-made layout, and on a real trainer — on the steps it should ride
// on, the same crops at every call, and no effect on training itself.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { probeAccuracy } from '../src/voco/probe';
import { Trainer } from '../src/worker/trainer';
import { DEFAULT_RUN_CONFIG } from '../src/store/runConfig';
import type { StepMetrics } from '../src/worker/protocol';
import { loadTrainingVolumes } from './helpers/trainingVolumes';

describe('probeAccuracy', () => {
  it('scores each crop against its own region\'s bases only', () => {
    // 2 regions × 2 crops, nb = 2 bases per region; columns: region 0's bases (0, 1), region 1's bases (2, 3).
    const labels = [
      [[0.75, 0.25], [0.25, 0.75]],
      [[1, 0], [0, 1]],
    ];
    const logits = [
      0.9, 0.1, 0.0, 0.0, // r0 c0: base 0 ✓
      0.9, 0.1, 0.0, 0.0, // r0 c1: base 0, truth 1 ✗
      0.0, 0.0, 0.2, 0.8, // r1 c0: base 1, truth 0 ✗ (the 0.9 of other regions' columns would not count either)
      0.9, 0.9, 0.1, 0.7, // r1 c1: base 1 ✓ (region 0's columns ignored)
    ];
    expect(probeAccuracy(logits, labels, 2)).toBe(0.5);
    expect(() => probeAccuracy(logits.slice(1), labels, 2)).toThrow(/15 logits for 2×2 crops × 4 bases/);
  });
});

describe('Trainer.positionProbe (cpu)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('rides on step 0, every probeEvery-th step and the last; same crops each call; training unchanged', async () => {
    const volumes = loadTrainingVolumes();
    const cfg = { ...DEFAULT_RUN_CONFIG, volumeIds: ['abdomen', 'chest'], preset: 'tiny', cropSize: 8, backend: 'cpu' as const, checkpointEvery: 0, totalSteps: 6, seed: 3 };
    const trainer = await Trainer.create(cfg, volumes);
    trainer.healthEvery = 0;
    trainer.probeEvery = 4;
    try {
      const ms: StepMetrics[] = [];
      for (let i = 0; i < 6; i++) ms.push(await trainer.step());
      expect(ms.map((m) => !!m.probe)).toEqual([true, false, false, false, true, true]);
      for (const m of ms.filter((x) => x.probe)) {
        expect(m.probe!.crops).toBe(32);
        expect(m.probe!.accuracy).toBeGreaterThanOrEqual(0);
        expect(m.probe!.accuracy).toBeLessThanOrEqual(1);
        expect(Number.isInteger(m.probe!.accuracy * 32)).toBe(true);
      }
      // The same fixed crops and unchanged weights: the same score again.
      const again = await trainer.positionProbe();
      expect(again.accuracy).toBe(ms[5].probe!.accuracy);
      // The probe touches no training state: the same run without it gives the same losses.
      const plain = await Trainer.create(cfg, volumes);
      plain.healthEvery = 0;
      plain.probeEvery = 0;
      try {
        for (let i = 0; i < 6; i++) {
          const m = await plain.step();
          expect(m.probe).toBeUndefined();
          expect(m.loss).toBe(ms[i].loss);
        }
      } finally {
        plain.dispose();
      }
    } finally {
      trainer.dispose();
    }
  });
});
