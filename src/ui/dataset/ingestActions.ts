// Loading dropped or picked files into the dataset store: rows appear at once (with progress), fill in
// as the ingest worker finishes each file, and label maps are attached to their scans when the batch ends.
import { rootsFromDrop, rootsFromFileList } from '../../ingest/collect';
import { startIngest } from '../../ingest/ingestClient';
import { gridMapping, isNamedLabelMap, looksLikeIds } from '../../ingest/labels';
import { pairInWorker } from '../../ingest/pairClient';
import type { PairResult } from '../../ingest/pairLabels';
import type { FromIngestWorker, IngestRoot, LoadedVolume } from '../../ingest/types';
import { parseLabelNames } from '../../eval/labels';
import { setLabelNames, useBenchmarkStore } from '../../store/benchmarkStore';
import { useDatasetStore, type DatasetRow } from '../../store/datasetStore';

const store = () => useDatasetStore.getState();

export interface BatchOutcome {
  batchId: string;
  loaded: string[];
  problems: number;
  ms: number;
}

/** Load what a drop event carries. Call synchronously from the drop handler (see rootsFromDrop). */
export function ingestDrop(dt: DataTransfer): Promise<BatchOutcome> {
  return rootsFromDrop(dt).then(ingestRoots);
}

export function ingestFileList(list: FileList | File[], pickedFolder: boolean): Promise<BatchOutcome> {
  return ingestRoots(rootsFromFileList(list, pickedFolder));
}

/**
 * The bundled samples (public/, each with its LICENSE): an abdomen CT with its TotalSegmentator label map and
 * structure names, and a chest CT of another patient. VoCo contrasts volumes with each other, so two scans are
 * what a first run needs; the label map lets the Maps and Benchmark tabs score structures at once.
 * `set`: 'all' (default), or 'abdomen' for the abdomen CT alone (tests that add their own scans).
 */
export const SAMPLE_FILES = {
  abdomen: ['sample-ct.nii.gz', 'sample-ct_seg.nii.gz'],
  chest: ['sample-chest-ct.nii.gz'],
} as const;
const SAMPLE_LABEL_NAMES = 'sample-ct_label_names.json';

export async function loadSamples(set: 'all' | 'abdomen' = 'all'): Promise<BatchOutcome> {
  const names = set === 'all' ? [...SAMPLE_FILES.abdomen, ...SAMPLE_FILES.chest] : [...SAMPLE_FILES.abdomen];
  store().batchStarted(); // the viewer says "Loading scans…" while the samples download
  try {
    const files = await Promise.all(names.map((n) => fetchSample(n)));
    const labelNames = await fetchSample(SAMPLE_LABEL_NAMES);
    setLabelNames({ ...useBenchmarkStore.getState().labelNames, ...parseLabelNames(await labelNames.text(), labelNames.name) }, labelNames.name);
    return await ingestRoots(files.map((file) => ({ kind: 'file' as const, label: file.name, files: [{ path: file.name, file }] })));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    store().upsertRows([problemRow('samples', 0, 'bundled samples', names, `could not load the bundled samples: ${message}`)]);
    return { batchId: 'samples', loaded: [], problems: 1, ms: 0 };
  } finally {
    store().batchDone();
  }
}

async function fetchSample(name: string): Promise<File> {
  const res = await fetch(`${import.meta.env.BASE_URL}${name}`);
  if (!res.ok) throw new Error(`bundled sample ${name}: HTTP ${res.status} ${res.statusText}`);
  return new File([await res.blob()], name);
}

interface BatchState {
  loaded: LoadedVolume[];
  started: number;
  problems: number;
}

let finishing: Promise<void> = Promise.resolve();

export function ingestRoots(roots: IngestRoot[]): Promise<BatchOutcome> {
  if (roots.length === 0) return Promise.resolve({ batchId: '', loaded: [], problems: 0, ms: 0 });
  return new Promise((resolve) => {
    const batch: BatchState = { loaded: [], started: performance.now(), problems: 0 };
    store().batchStarted();
    startIngest(roots, (msg) => {
      handle(msg, batch);
      if (msg.type === 'done') {
        // Batches pair their label maps one after another (pairing is asynchronous: it runs in a worker).
        finishing = finishing.then(async () => {
          const loaded = await finishBatch(msg.batchId, batch).catch((e: Error) => {
            console.error('[ingest] pairing label maps failed:', e.message);
            return batch.loaded.map((r) => r.volume.id);
          });
          const ms = performance.now() - batch.started;
          console.info(`[ingest] batch ${msg.batchId}: ${loaded.length} volume(s), ${batch.problems} problem(s) in ${ms.toFixed(0)} ms`);
          store().batchDone();
          resolve({ batchId: msg.batchId, loaded, problems: batch.problems, ms });
        });
      }
    });
  });
}

function problemRow(batchId: string, i: number, name: string, files: string[], message: string): DatasetRow {
  return { rowId: `${batchId}:problem:${i}`, batchId, name, files, status: 'error', progress: 1, stage: '', messages: [message] };
}

function handle(msg: FromIngestWorker, batch: BatchState) {
  const s = store();
  switch (msg.type) {
    case 'planned': {
      const rows: DatasetRow[] = msg.units.map((u) => ({
        rowId: u.unitId,
        batchId: msg.batchId,
        name: u.name,
        files: u.files,
        status: 'loading',
        progress: 0,
        stage: 'queued',
        messages: [],
      }));
      msg.problems.forEach((p, i) => rows.push(problemRow(msg.batchId, i, p.name, p.files, p.message)));
      batch.problems += msg.problems.length;
      s.upsertRows(rows);
      if (msg.leftOut.length) s.addLeftOut(msg.leftOut);
      break;
    }
    case 'progress':
      s.patchRow(msg.unitId, { progress: msg.fraction, stage: msg.stage });
      break;
    case 'loaded': {
      const rows: DatasetRow[] = [];
      for (const r of msg.results) {
        const { volume, facts } = r;
        s.addVolume(volume);
        batch.loaded.push(r);
        const pendingLabel = looksLikeIds(facts);
        const messages = [...facts.warnings];
        let exclude = facts.exclude;
        // The same grid and voxels again (the same folder dropped twice, a copy under another name): never trained twice.
        const twin = [...store().rows, ...rows].find((x) => x.info?.hash === facts.contentHash && x.status !== 'error');
        if (twin) {
          messages.unshift(`duplicate of ${twin.name} (same grid and voxels${twin.files[0] ? `, ${twin.files[0]}` : ''})`);
          exclude = `duplicate of ${twin.name}`;
        }
        rows.push({
          rowId: volume.id,
          batchId: msg.batchId,
          name: volume.name,
          files: volume.sourceFiles,
          status: messages.length ? 'warning' : 'ok',
          progress: 1,
          stage: pendingLabel ? 'label map? pairing…' : '',
          messages,
          volumeId: volume.id,
          pendingLabel,
          exclude,
          info: {
            format: facts.format,
            dims: volume.dims,
            spacing: volume.spacing,
            orientation: facts.orientation,
            min: facts.min,
            max: facts.max,
            huLike: facts.ct.huLike,
            ctNote: facts.ct.note,
            modality: facts.modality,
            dtype: volume.data.constructor.name,
            hash: facts.contentHash,
          },
        });
      }
      if (msg.leftOut.length) s.addLeftOut(msg.leftOut);
      if (msg.leftOut.length && rows.length) {
        const first = rows[0];
        first.messages.push(`${msg.leftOut.length} file${msg.leftOut.length > 1 ? 's' : ''} left out: ${msg.leftOut.map((l) => `${l.path.split('/').pop()} (${l.reason})`).join('; ')}`);
        first.status = 'warning';
      }
      msg.problems.forEach((p, i) => rows.push(problemRow(msg.batchId, 1000 + i, msg.unitId, [], p)));
      batch.problems += msg.problems.length;
      s.replaceRow(msg.unitId, rows);
      break;
    }
    case 'failed': {
      batch.problems += 1;
      const existing = s.rows.find((r) => r.rowId === msg.unitId);
      if (existing) s.patchRow(msg.unitId, { status: 'error', messages: [msg.message], progress: 1, stage: '' });
      else s.upsertRows([problemRow(msg.batchId, 2000 + batch.problems, 'ingest', [], msg.message)]);
      break;
    }
    case 'done':
      // Units the worker never reported (it crashed) must not spin forever.
      for (const r of s.rows)
        if (r.batchId === msg.batchId && r.status === 'loading')
          s.patchRow(r.rowId, { status: 'error', messages: ['loading stopped before this file finished (the ingest worker stopped)'], stage: '' });
      break;
  }
}

/**
 * Attach label maps to scans. A label candidate (integer ids ≥ 0, few distinct values) is attached
 * to a scan on the same world grid: first one of this batch, else one loaded before. Candidates named
 * like label maps that find no scan stay rows with a warning; unnamed ones are simply scans.
 * Returns the ids of the scans this batch added.
 */
async function finishBatch(batchId: string, batch: BatchState): Promise<string[]> {
  const s = store();
  const candidates = batch.loaded.filter((r) => looksLikeIds(r.facts));
  const batchScans = batch.loaded.filter((r) => !looksLikeIds(r.facts)).map((r) => r.volume.id);
  const earlierScans = s.rows.filter((r) => r.volumeId && !r.pendingLabel && r.batchId !== batchId).map((r) => r.volumeId!);
  const attached = new Set<string>();
  for (const c of candidates) {
    const named = isNamedLabelMap(c.volume.name, c.facts);
    let target: { id: string; mapping: NonNullable<ReturnType<typeof gridMapping>> } | null = null;
    // Scans that may be trained on first (not the duplicate, not a non-HU volume); never an empty or constant one.
    const rowOf = (id: string) => store().rows.find((r) => r.volumeId === id);
    const eligible = [...batchScans, ...earlierScans].filter((id) => {
      const info = rowOf(id)?.info;
      return info && info.min !== info.max;
    });
    const ordered = [...eligible.filter((id) => !rowOf(id)?.exclude), ...eligible.filter((id) => rowOf(id)?.exclude)];
    for (const id of ordered) {
      const scan = store().volumes[id];
      if (!scan || scan.id === c.volume.id) continue;
      const mapping = gridMapping(c.volume, scan);
      if (mapping) {
        target = { id, mapping };
        break;
      }
    }
    if (!target) {
      const row = store().rows.find((r) => r.rowId === c.volume.id);
      if (row)
        store().patchRow(row.rowId, {
          pendingLabel: false,
          stage: '',
          status: named ? 'warning' : row.status,
          messages: named ? [`looks like a label map, but no loaded scan has the same grid (${c.volume.dims.join('×')}); listed as a volume`, ...row.messages] : row.messages,
          exclude: named ? 'a label map without its scan' : row.exclude ?? 'looks like a label map (few integer ids), not a CT scan',
        });
      continue;
    }
    const scan = store().volumes[target.id];
    // Every-voxel loops (grid mapping, overlap, merge, id counts) run in a worker: seconds for a big pair.
    let pair: PairResult;
    try {
      pair = await pairInWorker({ labelData: c.volume.data, labelDims: c.volume.dims, scanDims: scan.dims, mapping: target.mapping, existing: scan.labels });
    } catch (e) {
      const row = store().rows.find((r) => r.rowId === c.volume.id);
      if (row) store().patchRow(row.rowId, { pendingLabel: false, stage: '', status: 'warning', messages: [`could not be paired with ${scan.name}: ${(e as Error).message}`, ...row.messages] });
      continue;
    }
    const onGrid = pair.onGrid;
    const scanRow = store().rows.find((r) => r.volumeId === target!.id);
    const { overlap, share } = pair;
    if (scanRow && scan.labels && overlap && !pair.merged) {
      // Overlapping maps (a vessel mask and its lumen map): merging would overwrite one with the other.
      // Keep them apart as alternatives; the scan keeps the first, the user can pick the other in its row.
      const current = scanRow.labels?.sources ?? [];
      const sets = scanRow.labelSets ?? [{ sources: current, labels: scan.labels, ids: scanRow.labels?.ids ?? 0 }];
      const pct = Math.round(100 * share);
      store().patchRow(scanRow.rowId, {
        labelSets: [...sets, { sources: [c.volume.name], labels: onGrid, ids: pair.onGridIds }],
        activeLabelSet: scanRow.activeLabelSet ?? 0,
        status: 'warning',
        messages: [
          ...scanRow.messages,
          `${c.volume.name} overlaps ${current.join(', ')} in ${overlap.both} voxels (${pct}% of the smaller map): kept apart, not merged; the scan uses ${current.join(', ')} (pick the label map below)`,
        ],
      });
    } else if (pair.merged) {
      const { labels, assignedId, firstId, lastId, shifted, ids } = pair.merged;
      store().setVolumeLabels(target.id, labels);
      if (scanRow) {
        // Each file's ids stay its own: binary masks get the next id, multi-id maps a shifted range when theirs are taken.
        const source = assignedId != null ? `${c.volume.name} (id ${assignedId})` : shifted ? `${c.volume.name} (ids ${firstId}–${lastId})` : c.volume.name;
        const touch =
          overlap && overlap.both > 0
            ? [`${c.volume.name} overlaps ${(scanRow.labels?.sources ?? []).join(', ')} in ${overlap.both} voxels (${(100 * share).toFixed(1)}% of the smaller map): merged, ${c.volume.name}'s ids win there`]
            : [];
        store().patchRow(scanRow.rowId, {
          labels: { sources: [...(scanRow.labels?.sources ?? []), source], ids },
          ...(touch.length ? { status: 'warning' as const, messages: [...scanRow.messages, ...touch] } : {}),
        });
      }
    }
    attached.add(c.volume.id);
    store().removeRow(c.volume.id);
  }
  const added = batch.loaded.map((r) => r.volume.id).filter((id) => !attached.has(id));
  // Show what was just loaded: the first new scan of the batch, a clean one (no warnings) if there is one.
  const clean = added.find((id) => store().rows.find((r) => r.volumeId === id)?.status === 'ok');
  if (added.length) store().select(clean ?? added[0]);
  return added;
}
