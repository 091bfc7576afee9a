import { describe, expect, it } from 'vitest';
import { clusterCommand, datalistTemplate } from '../src/persist/cluster';

describe('Continue on a cluster: command line and datalist', () => {
  it('continues the run for the given steps, extending the schedule when needed', () => {
    const cmd = clusterCommand({ runFile: 'voco-B-n3r32-step200.voco', processes: 8, steps: 1000, config: { totalSteps: 200 }, step: 200 });
    expect(cmd).toBe(
      'PYTHONPATH=python torchrun --nproc_per_node=8 \\\n' +
        '  -m vocostudio.train --from voco-B-n3r32-step200.voco --data datalist.json \\\n' +
        '  --steps 1000 --total-steps 1200 --out cluster-run',
    );
    expect(clusterCommand({ runFile: 'a.voco', processes: 2, steps: 10, config: { totalSteps: 500 }, step: 20 })).toContain('--total-steps 500');
  });

  it('adds rendezvous flags for several nodes and quotes odd file names', () => {
    const cmd = clusterCommand({ runFile: "my run's.voco", processes: 4, nodes: 2, steps: 5, config: { totalSteps: 1 }, step: 0 });
    expect(cmd).toContain('--nnodes=2 --rdzv_backend=c10d --rdzv_endpoint=$HEAD_NODE:29500');
    expect(cmd).toContain(`--from 'my run'\\''s.voco'`);
    expect(() => clusterCommand({ runFile: 'a.voco', processes: 0, steps: 5, config: { totalSteps: 1 }, step: 0 })).toThrow(/processes/);
  });

  it('writes the authors\' datalist format', () => {
    expect(JSON.parse(datalistTemplate(['a.nii.gz', 'b.nii.gz']))).toEqual({ training: [{ image: 'scans/a.nii.gz' }, { image: 'scans/b.nii.gz' }] });
  });
});
