// "Continue on a cluster": the command line and the datalist that continue an exported run (.voco) with the
// repository's Python package under PyTorch DDP (python/vocostudio, docs/cluster.md). Plain strings, no tensors.
import type { RunConfig } from '../worker/protocol';

export interface ClusterCommandOptions {
  /** File name of the exported run. */
  runFile: string;
  /** Processes per node (GPUs per node, or CPU processes). */
  processes: number;
  /** Steps to take on the cluster. */
  steps: number;
  /** Nodes (> 1 adds torchrun's rendezvous flags). */
  nodes?: number;
  /** Datalist or folder of scans. */
  data?: string;
  out?: string;
  /** The run's configuration: the schedule is extended to cover the new steps. */
  config: Pick<RunConfig, 'totalSteps'>;
  /** Steps the run has taken. */
  step: number;
}

/** The torchrun command (from the repository root) that continues the run for `steps` more steps. */
export function clusterCommand(o: ClusterCommandOptions): string {
  if (!Number.isInteger(o.processes) || o.processes < 1) throw new Error(`processes must be an integer ≥ 1, got ${o.processes}`);
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new Error(`steps must be an integer ≥ 1, got ${o.steps}`);
  const nodes = o.nodes ?? 1;
  const total = Math.max(o.config.totalSteps, o.step + o.steps);
  const rdzv = nodes > 1 ? ` --nnodes=${nodes} --rdzv_backend=c10d --rdzv_endpoint=$HEAD_NODE:29500 --rdzv_id=voco` : '';
  return [
    `PYTHONPATH=python torchrun --nproc_per_node=${o.processes}${rdzv} \\`,
    `  -m vocostudio.train --from ${shellQuote(o.runFile)} --data ${shellQuote(o.data ?? 'datalist.json')} \\`,
    `  --steps ${o.steps} --total-steps ${total} --out ${shellQuote(o.out ?? 'cluster-run')}`,
  ].join('\n');
}

/** The authors' datalist format, one entry per scan of the run (paths to be edited to where the scans live). */
export function datalistTemplate(scanNames: string[]): string {
  return JSON.stringify({ training: scanNames.map((name) => ({ image: `scans/${name}` })) }, null, 2) + '\n';
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
