// Preprocessing settings (presets + editable spacing and HU window) and the "as the model sees it" view.
import { useMemo, useState } from 'react';
import { PREPROCESS_PRESETS, type PreprocessPresetName, type PreprocessSettings } from '../../preprocess/settings';
import { loadedScans, settingsKey, useDatasetStore } from '../../store/datasetStore';
import { preprocessSettingsOf } from '../../store/runConfig';
import { useRunStore } from '../../store/runStore';
import { num } from '../dataset/format';
import { ensurePreprocessed } from './preprocessActions';

const PRESET_NAMES = Object.keys(PREPROCESS_PRESETS) as PreprocessPresetName[];

export function PreprocessPanel() {
  // The run's settings are the preprocessing settings: one source of truth (the Train tab shows the same fields).
  const draft = useRunStore((s) => s.draft);
  const settings = useMemo(() => preprocessSettingsOf(draft), [draft]);
  const locked = useRunStore((s) => s.phase !== 'idle' && s.phase !== 'error');
  const preset = PRESET_NAMES.find((n) => sameSettings(PREPROCESS_PRESETS[n].settings, settings)) ?? 'custom';
  const setSettings = (next: Pick<PreprocessSettings, 'spacing' | 'huWindow'>) =>
    useRunStore.setState((s) => ({ draft: { ...s.draft, spacing: [...next.spacing], huWindow: [...next.huWindow] } }));
  const showPre = useDatasetStore((s) => s.showPreprocessed);
  const setShowPre = useDatasetStore((s) => s.setShowPreprocessed);
  const rows = useDatasetStore((s) => s.rows);
  const volumes = useDatasetStore((s) => s.volumes);
  const preprocessed = useDatasetStore((s) => s.preprocessed);
  const status = useDatasetStore((s) => s.preprocessStatus);
  const selectedId = useDatasetStore((s) => s.selectedId);
  const scans = loadedScans({ rows, volumes });
  const key = settingsKey(settings);

  const edit = (patch: Partial<PreprocessSettings>) => setSettings({ ...settings, ...patch });

  return (
    <div className="panel preprocess" data-testid="preprocess-panel">
      <section>
        <h3>Preset</h3>
        <select
          value={preset}
          disabled={locked}
          data-testid="preprocess-preset"
          onChange={(e) => {
            const name = e.target.value as PreprocessPresetName | 'custom';
            if (name !== 'custom') setSettings(PREPROCESS_PRESETS[name].settings);
          }}
        >
          {PRESET_NAMES.map((n) => (
            <option key={n} value={n}>
              {PREPROCESS_PRESETS[n].label}
            </option>
          ))}
          <option value="custom" disabled={preset !== 'custom'}>
            Custom
          </option>
        </select>
      </section>
      <section>
        <h3>Target spacing (mm)</h3>
        <div className="triple">
          {(['x', 'y', 'z'] as const).map((axis, i) => (
            <NumberField
              key={`${axis}-${key}`}
              label={axis}
              value={settings.spacing[i]}
              min={0.25}
              max={20}
              step={0.25}
              testId={`preprocess-spacing-${axis}`}
              onCommit={(v) => {
                const spacing = [...settings.spacing] as [number, number, number];
                spacing[i] = v;
                edit({ spacing });
              }}
            />
          ))}
        </div>
        <h3>HU window → [0, 1]</h3>
        <div className="triple">
          <NumberField
            key={`lo-${key}`}
            label="low"
            value={settings.huWindow[0]}
            min={-3000}
            max={settings.huWindow[1] - 1}
            step={5}
            testId="preprocess-hu-lo"
            onCommit={(v) => edit({ huWindow: [v, settings.huWindow[1]] })}
          />
          <NumberField
            key={`hi-${key}`}
            label="high"
            value={settings.huWindow[1]}
            min={settings.huWindow[0] + 1}
            max={4000}
            step={5}
            testId="preprocess-hu-hi"
            onCommit={(v) => edit({ huWindow: [settings.huWindow[0], v] })}
          />
        </div>
        <p className="muted small">
          RAS reorientation → resample to the target spacing (trilinear; labels nearest) → clip to the window and scale to [0, 1] → crop to
          foreground → pad to at least {settings.minSize.join('×')} voxels (the training region).
        </p>
      </section>
      <section>
        <label className="check big">
          <input type="checkbox" checked={showPre} onChange={(e) => setShowPre(e.target.checked)} data-testid="model-view-toggle" />
          Show the selected scan as the model sees it
        </label>
      </section>
      <section>
        <div className="section-head">
          <h3>Scans</h3>
          <button
            className="btn"
            data-testid="preprocess-all"
            disabled={scans.length === 0}
            onClick={() => scans.forEach((v) => ensurePreprocessed(v.id).catch(() => {}))}
          >
            Preprocess all
          </button>
        </div>
        <table className="table" data-testid="preprocess-table">
          <thead>
            <tr>
              <th>scan</th>
              <th>after preprocessing</th>
            </tr>
          </thead>
          <tbody>
            {scans.map((v) => {
              const st = status[v.id];
              const done = preprocessed[v.id]?.key === key ? preprocessed[v.id].volume : null;
              return (
                <tr key={v.id} className={v.id === selectedId ? 'selected' : ''} data-testid="preprocess-row">
                  <td title={v.name}>{v.name}</td>
                  <td>
                    {done ? (
                      <span data-testid="preprocess-dims">
                        {done.dims.join('×')} @ {done.spacing.map((s) => num(s)).join('×')} mm
                      </span>
                    ) : st?.state === 'running' && st.key === key ? (
                      <span className="muted">running…</span>
                    ) : st?.state === 'error' && st.key === key ? (
                      <span className="bad">{st.message}</span>
                    ) : (
                      <span className="muted">not yet</span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
    </div>
  );
}

/** A number input that commits on blur/Enter and refuses values outside [min, max]. */
function NumberField(props: { label: string; value: number; min: number; max: number; step: number; testId: string; onCommit: (v: number) => void }) {
  const [text, setText] = useState(String(props.value));
  const v = Number(text);
  const valid = text.trim() !== '' && Number.isFinite(v) && v >= props.min && v <= props.max;
  const commit = () => {
    if (valid && v !== props.value) props.onCommit(v);
    else if (!valid) setText(String(props.value));
  };
  return (
    <label className={`field${valid ? '' : ' invalid'}`}>
      <span>{props.label}</span>
      <input
        type="number"
        value={text}
        step={props.step}
        min={props.min}
        max={props.max}
        data-testid={props.testId}
        onChange={(e) => setText(e.target.value)}
        onBlur={commit}
        onKeyDown={(e) => e.key === 'Enter' && commit()}
      />
    </label>
  );
}

/** A preset matches when its spacing and HU window do (the padding size is the run's training region). */
function sameSettings(a: Pick<PreprocessSettings, 'spacing' | 'huWindow'>, b: Pick<PreprocessSettings, 'spacing' | 'huWindow'>): boolean {
  return a.spacing.every((v, i) => v === b.spacing[i]) && a.huWindow.every((v, i) => v === b.huWindow[i]);
}
