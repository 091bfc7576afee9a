// Import of a PyTorch / safetensors model: open the file lazily (Blob slices), show the key report, and only
// on "Use" read the weights. Not React; the dialog draws useModelImportStore.
import { blobSource } from '../../model/checkpoints/byteSource';
import { inspectCheckpoint, isCheckpointFileName, readMappedWeights, type ImportedWeight, type OpenedCheckpoint } from '../../model/checkpoints/open';
import type { ImportReport } from '../../model/checkpoints/keyMap';
import { initialModelImport, useModelImportStore } from '../../store/modelImportStore';

export { isCheckpointFileName };

let current: { opened: OpenedCheckpoint; report: ImportReport } | null = null;
let generation = 0;

/**
 * Hook for the reference model: turns usable imported weights into a run. Absent until the reference SwinViT
 * preset is part of the studio; the dialog says so and offers no Use.
 */
export interface ImportedModelSink {
  /** Why this report cannot become a run here (memory, backend…), or null. */
  blocked(report: ImportReport): string | null;
  use(report: ImportReport, weights: ImportedWeight[]): Promise<string>;
}
let sink: ImportedModelSink | null = null;
export function setImportedModelSink(s: ImportedModelSink | null): void {
  sink = s;
}

/** Reads the file's directory and pickle (or safetensors header) and shows the report. Changes nothing else. */
export async function inspectModelFile(file: File): Promise<void> {
  const my = ++generation;
  current = null;
  useModelImportStore.setState({ ...initialModelImport, phase: 'reading', fileName: file.name });
  try {
    const { report, opened } = await inspectCheckpoint(blobSource(file, file.name));
    if (my !== generation) return;
    current = { opened, report };
    const useBlocked = !report.usable ? null : sink ? sink.blocked(report) : 'the reference SwinViT model is not part of this build yet, so the weights cannot be used here';
    useModelImportStore.setState({ phase: 'report', report, useBlocked });
  } catch (err) {
    if (my !== generation) return;
    useModelImportStore.setState({ phase: 'error', error: err instanceof Error ? err.message : String(err) });
  }
}

/** Reads the mapped weights and hands them to the sink; the report must be usable. */
export async function useImportedModel(): Promise<void> {
  const c = current;
  const s = useModelImportStore.getState();
  if (!c || !c.report.usable || s.useBlocked || !sink) return;
  const my = generation;
  useModelImportStore.setState({ phase: 'using', progress: { done: 0, total: c.report.mapped.length } });
  try {
    const weights = await readMappedWeights(c.opened, c.report, (done, total) => useModelImportStore.setState({ progress: { done, total } }));
    const message = await sink.use(c.report, weights);
    if (my !== generation) return;
    closeModelImport();
    useModelImportStore.setState({ error: null });
    return void message;
  } catch (err) {
    if (my !== generation) return;
    useModelImportStore.setState({ phase: 'report', progress: null, error: err instanceof Error ? err.message : String(err) });
  }
}

export function closeModelImport(): void {
  generation++;
  current = null;
  useModelImportStore.setState({ ...initialModelImport });
}
