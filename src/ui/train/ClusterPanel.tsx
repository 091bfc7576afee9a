// "Continue on a cluster": exports the active run as a .voco file and shows the torchrun command that continues
// it with the repository's Python package (PyTorch DDP), plus a datalist template for the scans. The result
// (a .voco written by the package) comes back through "Import run…", its history marked where it moved.
import { useState } from 'react';
import { clusterCommand, datalistTemplate } from '../../persist/cluster';
import { useRunStore } from '../../store/runStore';
import { downloadBytes } from './download';
import { trainingController } from './trainingController';

export function ClusterPanel() {
  const runId = useRunStore((s) => s.runId);
  const phase = useRunStore((s) => s.phase);
  const config = useRunStore((s) => s.config);
  const step = useRunStore((s) => s.step);
  const runVolumes = useRunStore((s) => s.runVolumes);
  const [exported, setExported] = useState<string | null>(null);
  const [processes, setProcesses] = useState(2);
  const [nodes, setNodes] = useState(1);
  const [steps, setSteps] = useState(1000);
  const [busy, setBusy] = useState(false);
  const [copied, setCopied] = useState(false);
  const usable = !!runId && !!config && phase !== 'preparing' && phase !== 'running';

  const exportForCluster = async () => {
    setBusy(true);
    try {
      const { name, bytes } = await trainingController.exportRun();
      downloadBytes(bytes, name);
      setExported(name);
    } catch (err) {
      useRunStore.setState({ notice: (err as Error).message });
    } finally {
      setBusy(false);
    }
  };

  let command = '';
  let problem: string | null = null;
  if (exported && config) {
    try {
      command = clusterCommand({ runFile: exported, processes, nodes, steps, config, step });
    } catch (err) {
      problem = (err as Error).message;
    }
  }

  return (
    <section className="train-section cluster-panel" data-testid="cluster-panel">
      <div className="section-head">
        <h3>Continue on a cluster</h3>
      </div>
      <p className="muted">
        Exports this run (weights, optimizer state, step, schedule and random-generator positions) for the Python
        package in <code>python/</code>, which continues it with PyTorch DDP under <code>torchrun</code> on GPUs or
        CPUs. Import its <code>.voco</code> back here to see the whole history, the move marked on the curves.
      </p>
      <div className="control-row">
        <button data-testid="btn-continue-cluster" disabled={!usable || busy} onClick={() => void exportForCluster()}
          title={usable ? 'Download the run file and show the command' : 'Start or resume a run first (pause it to export)'}>
          Continue on a cluster
        </button>
        {exported ? (
          <button data-testid="btn-datalist-template" onClick={() =>
            downloadBytes(new TextEncoder().encode(datalistTemplate(runVolumes.map((v) => v.name))), 'datalist.json', 'application/json')}>
            Download datalist template
          </button>
        ) : null}
      </div>
      {exported ? (
        <div data-testid="cluster-instructions">
          <p>
            Saved <b data-testid="cluster-run-file">{exported}</b>. Copy it and your scans (a folder, or the datalist) to the
            cluster, then from a checkout of this repository:
          </p>
          <div className="control-row">
            <label>
              processes per node <input type="number" min={1} value={processes} data-testid="cluster-processes" onChange={(e) => setProcesses(Number(e.target.value))} />
            </label>
            <label>
              nodes <input type="number" min={1} value={nodes} onChange={(e) => setNodes(Number(e.target.value))} />
            </label>
            <label>
              steps <input type="number" min={1} value={steps} data-testid="cluster-steps" onChange={(e) => setSteps(Number(e.target.value))} />
            </label>
          </div>
          {problem ? <p className="config-issues">{problem}</p> : <pre data-testid="cluster-command">{command}</pre>}
          <div className="control-row">
            <button disabled={!command} onClick={() => void navigator.clipboard?.writeText(command).then(() => setCopied(true))}>
              {copied ? 'Copied' : 'Copy command'}
            </button>
          </div>
          <p className="muted">
            One process per GPU (NCCL), or CPU processes (gloo); add <code>--amp</code> for mixed precision on CUDA. Each
            process trains B = {config?.batchVolumes} volumes per step. Checkpoints land in <code>cluster-run/</code> as
            <code> .voco</code> files: bring one back with <b>Import run…</b> above. With Debian's torch 1.13 on Python 3.11
            add <code>--redirects 1 --tee 1</code> to torchrun. See docs/cluster.md.
          </p>
        </div>
      ) : null}
    </section>
  );
}
