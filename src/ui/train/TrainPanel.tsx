// The training studio tab: saved runs, run setup, controls, live curves and position heatmaps.
// Training lives in the worker; this panel only draws what the run store holds.
import { useEffect, useMemo, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { PRESETS, paramCount } from '../../model/presets';
import { loadedScans, useDatasetStore } from '../../store/datasetStore';
import { resampledRasDims, validateRunConfig, type ConfigIssue, type GpuLimits } from '../../store/runConfig';
import { useRunStore } from '../../store/runStore';
import { ClusterPanel } from './ClusterPanel';
import { CropOverlayControls } from './CropOverlay';
import { LivePlots } from './LivePlots';
import { HealthPanel } from './HealthPanel';
import { PositionHeatmaps } from './PositionHeatmaps';
import { RunControls } from './RunControls';
import { RunSetupPanel } from './RunSetupPanel';
import { SavedRuns } from './SavedRuns';
import { useGpuLimits } from './gpuLimits';
import { ModelImportPanel } from './ModelImport';
import { trainingController } from './trainingController';
import './train.css';

export function TrainPanel() {
  const draft = useRunStore((s) => s.draft);
  const phase = useRunStore((s) => s.phase);
  const step = useRunStore((s) => s.step);
  const runName = useRunStore((s) => s.runName);
  const scans = useDatasetStore(useShallow((s) => loadedScans(s)));
  const gpuLimits = useGpuLimits();
  const runLoaded = phase !== 'idle' && phase !== 'error';
  const [setupOpen, setSetupOpen] = useState(true);

  const issues: ConfigIssue[] = useMemo(() => {
    const preset = PRESETS[draft.preset];
    let params: number | undefined;
    try {
      params = preset ? paramCount(preset, draft.cropSize).total : undefined;
    } catch {
      params = undefined; // crop size not a multiple of the patch: reported by validation
    }
    const volumes = scans.map((v) => ({ id: v.id, name: v.name, dims: resampledRasDims(v.dims, v.affine, draft.spacing) }));
    return validateRunConfig(draft, { volumes, preset, params, gpuLimits });
  }, [draft, scans, gpuLimits]);

  // On a loaded run only the step budget matters: it must leave steps to take.
  const trainBlocked = useRunStore((s) => s.trainBlocked);
  const startBlocked = runLoaded
    ? trainBlocked
      ? trainBlocked
      : draft.totalSteps > step
      ? null
      : `The run is at step ${step}: raise total steps above ${step} to continue`
    : issues.length
      ? issues.map((i) => i.message).join('\n')
      : null;

  const onStart = () => {
    if (runLoaded) {
      trainingController.start(draft.totalSteps);
    } else {
      setSetupOpen(false);
      void trainingController.startNew(draft, (id) => useDatasetStore.getState().volumes[id]);
    }
  };

  return (
    <div className="train-panel" data-testid="train-panel">
      <SavedRuns />
      <ModelImportPanel />
      <section className="train-section">
        <div className="section-head">
          <h3>
            Run setup {runName ? <span className="muted">· {runName}</span> : null}
          </h3>
          <button className="link" onClick={() => setSetupOpen(!setupOpen)} data-testid="toggle-setup">
            {setupOpen ? 'hide' : 'show'}
          </button>
          {runLoaded && phase !== 'running' && phase !== 'paused' && phase !== 'preparing' ? (
            <button className="link" data-testid="btn-new-run" onClick={() => void trainingController.closeRun()}>
              new run
            </button>
          ) : null}
        </div>
        {setupOpen ? <RunSetupPanel issues={runLoaded ? [] : issues} locked={runLoaded} /> : null}
        {!runLoaded && issues.length ? (
          <ul className="config-issues" data-testid="config-issues">
            {issues.map((i, k) => (
              <li key={k}>{i.message}</li>
            ))}
          </ul>
        ) : null}
      </section>
      <RunControls onStart={onStart} startBlocked={startBlocked} />
      {runLoaded && trainBlocked ? (
        <p className="warn small" data-testid="train-blocked">
          {trainBlocked}
        </p>
      ) : null}
      <LivePlots />
      <HealthPanel />
      <PositionHeatmaps />
      <CropOverlayControls />
      <ClusterPanel />
    </div>
  );
}

