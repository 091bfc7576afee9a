// The viewer: the selected scan (or its preprocessed version, "as the model sees it") in NiiVue,
// multiplanar + 3-D, CT window presets, and a crosshair readout in HU and millimetres.
import { preprocessSettingsOf } from '../../store/runConfig';
import { useRunStore } from '../../store/runStore';
import { useEffect, useMemo, useRef, useState } from 'react';
import { settingsKey, useDatasetStore } from '../../store/datasetStore';
import { ensurePreprocessed } from '../preprocess/preprocessActions';
import { displayLabels } from '../../ingest/displayCopy';
import { num } from '../dataset/format';
import { NiivueView, type Readout, type ViewImage, type ViewLayout } from './niivueView';
import { FIXED_WINDOWS, windowRange, type WindowName } from './windows';

const LAYOUTS: { id: ViewLayout; label: string }[] = [
  { id: 'mpr', label: 'MPR + 3D' },
  { id: 'axial', label: 'Axial' },
  { id: 'coronal', label: 'Coronal' },
  { id: 'sagittal', label: 'Sagittal' },
  { id: 'render', label: '3D' },
];

export function Viewer() {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const viewRef = useRef<NiivueView | null>(null);
  const [ready, setReady] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  const [readout, setReadout] = useState<Readout | null>(null);
  const [layout, setLayout] = useState<ViewLayout>('mpr');
  const [windowName, setWindowName] = useState<WindowName>('soft');
  const [labelsOn, setLabelsOn] = useState(false);
  const [shown, setShown] = useState<{ key: string; mode: 'scan' | 'preprocessed'; name: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const selectedId = useDatasetStore((s) => s.selectedId);
  const volume = useDatasetStore((s) => (s.selectedId ? s.volumes[s.selectedId] : undefined));
  const row = useDatasetStore((s) => s.rows.find((r) => r.volumeId != null && r.volumeId === s.selectedId));
  const showPre = useDatasetStore((s) => s.showPreprocessed);
  const setShowPre = useDatasetStore((s) => s.setShowPreprocessed);
  const draft = useRunStore((s) => s.draft);
  const settings = useMemo(() => preprocessSettingsOf(draft), [draft]);
  const pre = useDatasetStore((s) => (s.selectedId ? s.preprocessed[s.selectedId] : undefined));
  const preStatus = useDatasetStore((s) => (s.selectedId ? s.preprocessStatus[s.selectedId] : undefined));
  const loading = useDatasetStore((s) => s.batchesStarted > s.batchesDone);
  const key = settingsKey(settings);
  const preReady = showPre && pre?.key === key;

  // One NiiVue per mounted viewer.
  useEffect(() => {
    const view = new NiivueView(setReadout);
    viewRef.current = view;
    let alive = true;
    view
      .attach(canvasRef.current!)
      .then(() => alive && setReady(true))
      .catch((e: Error) => alive && setFailure(`The viewer could not start WebGL2: ${e.message}`));
    return () => {
      alive = false;
      view.dispose();
      viewRef.current = null;
      setReady(false);
    };
  }, []);

  // "As the model sees it": preprocess the selection when asked (cached per settings).
  useEffect(() => {
    if (showPre && selectedId && !preReady) ensurePreprocessed(selectedId).catch(() => {});
  }, [showPre, selectedId, preReady, key]);

  const image: (ViewImage & { mode: 'scan' | 'preprocessed' }) | null = useMemo(() => {
    if (!volume) return null;
    if (preReady && pre)
      return { ...pre.volume, key: `${volume.id}|pre|${pre.key}`, name: `${volume.name} (preprocessed)`, mode: 'preprocessed' };
    const d = volume.display;
    // Over the display budget: the ingest worker's downsampled copy (the readout still gives the file's voxel).
    if (d)
      return {
        key: volume.id,
        name: volume.name,
        dims: d.dims,
        spacing: d.spacing,
        affine: d.affine,
        data: d.data,
        labels: volume.labels ? displayLabels(volume.labels, volume.dims, d) : undefined,
        index: { dims: volume.dims, affine: volume.affine },
        mode: 'scan',
      };
    return { ...volume, key: volume.id, mode: 'scan' };
  }, [volume, preReady, pre]);

  const info = row?.info;
  const window: [number, number] = useMemo(() => {
    if (image?.mode === 'preprocessed') return [0, 1];
    return windowRange(windowName, settings.huWindow, info ? [info.min, info.max] : [-1000, 1000]);
  }, [image?.mode, windowName, settings.huWindow, info]);

  // Load what should be shown (a token guards against an older load finishing last).
  const loadToken = useRef(0);
  useEffect(() => {
    const view = viewRef.current;
    if (!ready || !view) return;
    const token = ++loadToken.current;
    setBusy(true);
    view
      .show(image, window)
      .then(() => {
        if (token !== loadToken.current) return;
        setShown(image ? { key: image.key, mode: image.mode, name: image.name } : null);
        setFailure(null);
      })
      .catch((e: Error) => token === loadToken.current && setFailure(`Could not show ${image?.name}: ${e.message}`))
      .finally(() => token === loadToken.current && setBusy(false));
    // window changes are applied by the effect below without reloading
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ready, image?.key]);

  useEffect(() => viewRef.current?.setWindow(window), [window]);
  useEffect(() => {
    if (ready) viewRef.current?.setLayout(layout);
  }, [ready, layout]);
  // Labels attached after the scan was shown update the overlay, not the scan.
  useEffect(() => {
    if (ready) viewRef.current?.setLabels(image?.labels ?? null, labelsOn).catch((e: Error) => setFailure(`Could not show the labels: ${e.message}`));
  }, [ready, labelsOn, shown?.key, image?.labels]);

  const preprocessedMode = image?.mode === 'preprocessed';
  const hu = (v: number) => (preprocessedMode ? settings.huWindow[0] + v * (settings.huWindow[1] - settings.huWindow[0]) : v);

  return (
    <div
      className="viewer"
      data-testid="viewer"
      data-shown={shown?.name ?? ''}
      data-mode={shown?.mode ?? ''}
      data-busy={busy}
      data-display-dims={image ? image.dims.join('×') : ''}
    >
      <div className="viewer-toolbar">
        <div className="seg" role="group" aria-label="Layout">
          {LAYOUTS.map((l) => (
            <button key={l.id} className={layout === l.id ? 'active' : ''} data-testid={`layout-${l.id}`} onClick={() => setLayout(l.id)}>
              {l.label}
            </button>
          ))}
        </div>
        <div className="seg" role="group" aria-label="Window">
          {(Object.keys(FIXED_WINDOWS) as (keyof typeof FIXED_WINDOWS)[]).map((w) => (
            <button
              key={w}
              className={windowName === w && !preprocessedMode ? 'active' : ''}
              disabled={preprocessedMode}
              data-testid={`window-${w}`}
              title={`[${FIXED_WINDOWS[w].range.join(', ')}] HU`}
              onClick={() => setWindowName(w)}
            >
              {FIXED_WINDOWS[w].label}
            </button>
          ))}
          <button
            className={windowName === 'training' && !preprocessedMode ? 'active' : ''}
            disabled={preprocessedMode}
            data-testid="window-training"
            title="The HU window of the preprocessing settings"
            onClick={() => setWindowName('training')}
          >
            Training [{settings.huWindow.join(', ')}]
          </button>
        </div>
        <div className="toolbar-right">
          {volume?.labels && !preprocessedMode && (
            <label className="check">
              <input type="checkbox" checked={labelsOn} onChange={(e) => setLabelsOn(e.target.checked)} data-testid="labels-toggle" /> Labels
            </label>
          )}
          <label className="check" title="Show the selected scan after preprocessing: the voxels the model trains on">
            <input type="checkbox" checked={showPre} onChange={(e) => setShowPre(e.target.checked)} data-testid="viewer-model-view" /> As the model
            sees it
          </label>
        </div>
      </div>
      <div className="viewer-stage">
        <canvas ref={canvasRef} data-testid="viewer-canvas" />
        {!volume && (
          <div className="viewer-empty" data-testid="viewer-empty">
            {loading ? 'Loading scans…' : 'Drop a CT scan (NIfTI, DICOM folder, NRRD, MHA) to begin'}
          </div>
        )}
        {showPre && preStatus?.state === 'running' && <div className="viewer-badge" data-testid="viewer-status">Preprocessing {volume?.name}…</div>}
        {showPre && preStatus?.state === 'error' && (
          <div className="viewer-badge bad" data-testid="viewer-status">
            {preStatus.message}
          </div>
        )}
        {preprocessedMode && (
          <div className="viewer-badge model" data-testid="viewer-status">
            As the model sees it · {settings.spacing.map((s) => num(s)).join('×')} mm · HU [{settings.huWindow.join(', ')}] → [0, 1] · {image?.dims.join('×')}
          </div>
        )}
        {failure && <div className="viewer-badge bad">{failure}</div>}
        {busy && image && <div className="viewer-badge" data-testid="viewer-preparing">preparing the view of {image.name}…</div>}
        {image?.mode === 'scan' && volume?.display && (
          <div className="viewer-badge low" data-testid="viewer-display-note" title="NiiVue draws on the main thread: a big volume is shown as a block-averaged copy so the page stays responsive">
            shown downsampled {volume.display.factor}× ({volume.display.dims.join('×')}) · training uses all {volume.dims.join('×')} voxels
          </div>
        )}
      </div>
      <div className="viewer-status" data-testid="viewer-readout">
        <span className="readout-name">{shown?.name ?? '—'}</span>
        {readout && volume && (
          <>
            <span data-testid="readout-value">
              {preprocessedMode ? `${num(readout.value, 3)} (≈ ${num(hu(readout.value), 0)} HU)` : `${num(readout.value, 1)} HU`}
            </span>
            <span data-testid="readout-mm" data-mm={readout.mm.join(',')}>
              {readout.mm.map((v) => num(v, 1)).join(', ')} mm
            </span>
            <span className="muted" data-testid="readout-vox" title="voxel index in the file's own storage order">
              voxel {readout.vox.join(', ')}
            </span>
            {readout.label != null && readout.label > 0 && <span>label {readout.label}</span>}
          </>
        )}
        <span className="muted readout-window">
          window {num(window[0], 2)} … {num(window[1], 2)}
        </span>
      </div>
    </div>
  );
}
