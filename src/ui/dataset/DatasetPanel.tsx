// The dataset panel: open/drop files and folders, one row per volume (or per problem), select to view.
import { useRef, useState, type DragEvent } from 'react';
import { useDatasetStore, type DatasetRow } from '../../store/datasetStore';
import { dimsText, rangeText, spacingText } from './format';
import { ingestFileList } from './ingestActions';

export function DatasetPanel() {
  const rows = useDatasetStore((s) => s.rows);
  const leftOut = useDatasetStore((s) => s.leftOut);
  const batchesStarted = useDatasetStore((s) => s.batchesStarted);
  const batchesDone = useDatasetStore((s) => s.batchesDone);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const scans = rows.filter((r) => r.volumeId && !r.pendingLabel).length;
  const loading = rows.filter((r) => r.status === 'loading').length;

  // The drop itself bubbles to the app, which loads drops from anywhere on the page.
  const onDrop = () => setOver(false);

  return (
    <div className="dataset" data-testid="dataset" data-batches-done={batchesDone} data-busy={batchesStarted > batchesDone}>
      <div className="panel-head">
        <h2>Dataset</h2>
        <span className="muted" data-testid="dataset-count">
          {scans} scan{scans === 1 ? '' : 's'}
          {loading ? ` · ${loading} loading` : ''}
        </span>
      </div>
      <div
        className={`dropzone${over ? ' over' : ''}`}
        data-testid="drop-zone"
        onDragOver={(e: DragEvent) => {
          e.preventDefault();
          setOver(true);
        }}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
      >
        <div className="dropzone-title">Drop CT files or folders</div>
        <div className="muted small">NIfTI · DICOM series (incl. JPEG 2000) · NRRD · MHA/MHD</div>
        <div className="dropzone-buttons">
          <button className="btn" data-testid="open-files" onClick={() => fileInput.current?.click()}>
            Open files…
          </button>
          <button className="btn" data-testid="open-folder" onClick={() => folderInput.current?.click()}>
            Open folder…
          </button>
        </div>
        <input
          ref={fileInput}
          type="file"
          multiple
          hidden
          data-testid="file-input"
          onChange={(e) => {
            const files = Array.from(e.target.files ?? []);
            e.target.value = '';
            void ingestFileList(files, false);
          }}
        />
        <input
          ref={folderInput}
          type="file"
          multiple
          hidden
          data-testid="folder-input"
          {...{ webkitdirectory: '', directory: '' }}
          onChange={(e) => {
            const files = Array.from(e.target.files ?? []);
            e.target.value = '';
            void ingestFileList(files, true);
          }}
        />
      </div>
      <ul className="rows" data-testid="dataset-rows">
        {rows.map((r) => (
          <Row key={r.rowId} row={r} />
        ))}
      </ul>
      {leftOut.length > 0 && (
        <details className="skipped" data-testid="ingest-left-out" open={leftOut.some((l) => !l.reason.startsWith('a document'))}>
          <summary data-testid="left-out-count">
            {leftOut.length} file{leftOut.length > 1 ? 's' : ''} left out
          </summary>
          <ul>
            {leftOut.map((l, i) => (
              <li key={i} data-testid="left-out-item" data-path={l.path}>
                <span className="left-out-path">{l.path}</span> <span className="muted">— {l.reason}</span>
              </li>
            ))}
          </ul>
        </details>
      )}
    </div>
  );
}

const STATUS_TEXT: Record<DatasetRow['status'], string> = { loading: 'loading', ok: 'ok', warning: 'warning', error: 'error' };

function Row({ row }: { row: DatasetRow }) {
  const selected = useDatasetStore((s) => row.volumeId != null && s.selectedId === row.volumeId);
  const select = useDatasetStore((s) => s.select);
  const remove = useDatasetStore((s) => s.removeRow);
  const chooseLabelSet = useDatasetStore((s) => s.chooseLabelSet);
  const pre = useDatasetStore((s) => (row.volumeId ? s.preprocessStatus[row.volumeId] : undefined));
  const selectable = !!row.volumeId;
  const info = row.info;
  return (
    <li
      className={`row status-${row.status}${selected ? ' selected' : ''}${selectable ? ' selectable' : ''}`}
      data-testid="dataset-row"
      data-status={row.status}
      data-name={row.name}
      data-volume-id={row.volumeId ?? ''}
      aria-selected={selected}
      title={row.files.length ? row.files.slice(0, 12).join('\n') + (row.files.length > 12 ? `\n… ${row.files.length - 12} more` : '') : undefined}
      onClick={() => selectable && select(row.volumeId!)}
    >
      <div className="row-top">
        <span className="row-name" data-testid="row-name">
          {row.name}
        </span>
        <span className={`chip chip-${row.status}`} data-testid="row-status">
          {row.status === 'loading' ? `${row.stage || 'loading'} ${Math.round(row.progress * 100)}%` : STATUS_TEXT[row.status]}
        </span>
        {row.status !== 'loading' && (
          <button
            className="row-remove"
            data-testid="row-remove"
            title="Remove from the dataset"
            onClick={(e) => {
              e.stopPropagation();
              remove(row.rowId);
            }}
          >
            ×
          </button>
        )}
      </div>
      {row.status === 'loading' && (
        <div className="progress" data-testid="row-progress">
          <div className="progress-bar" style={{ width: `${Math.round(row.progress * 100)}%` }} />
        </div>
      )}
      {info && (
        <dl className="row-facts">
          <dt>dims</dt>
          <dd data-testid="row-dims">{dimsText(info.dims)}</dd>
          <dt>spacing</dt>
          <dd data-testid="row-spacing">{spacingText(info.spacing)}</dd>
          <dt>orient.</dt>
          <dd data-testid="row-orientation">{info.orientation}</dd>
          <dt>range</dt>
          <dd data-testid="row-range">{rangeText(info.min, info.max)}</dd>
          <dt>CT</dt>
          <dd data-testid="row-ct" className={info.huLike ? 'good' : 'warn'} title={info.ctNote}>
            {info.huLike ? 'HU-like' : 'not HU'}
            {info.modality ? ` · ${info.modality}` : ''}
          </dd>
          <dt>format</dt>
          <dd className="muted">
            {info.format} · {info.dtype.replace('Array', '')}
          </dd>
          {row.labels && (
            <>
              <dt>labels</dt>
              <dd data-testid="row-labels" title={row.labels.sources.join('\n')}>
                {row.labels.ids} id{row.labels.ids === 1 ? '' : 's'} · {row.labels.sources.join(', ')}
              </dd>
            </>
          )}
          {row.labelSets && row.labelSets.length > 1 && (
            <>
              <dt>use</dt>
              <dd>
                <select
                  data-testid="label-set-pick"
                  value={row.activeLabelSet ?? 0}
                  onClick={(e) => e.stopPropagation()}
                  onChange={(e) => chooseLabelSet(row.rowId, Number(e.target.value))}
                >
                  {row.labelSets.map((set, i) => (
                    <option key={i} value={i}>
                      {set.sources.join(' + ')} ({set.ids} id{set.ids === 1 ? '' : 's'})
                    </option>
                  ))}
                </select>
              </dd>
            </>
          )}
          {pre && (
            <>
              <dt>model</dt>
              <dd data-testid="row-preprocess" className={pre.state === 'error' ? 'bad' : 'muted'}>
                {pre.state === 'running' ? 'preprocessing…' : pre.state === 'done' ? `preprocessed (${Math.round(pre.ms)} ms)` : pre.message}
              </dd>
            </>
          )}
        </dl>
      )}
      {row.pendingLabel && <div className="row-note muted">label map? pairing with its scan when the drop finishes…</div>}
      {row.messages.map((m, i) => (
        <div key={i} className={`row-message ${row.status === 'error' ? 'bad' : 'warn'}`} data-testid="row-message">
          {m}
        </div>
      ))}
    </li>
  );
}
