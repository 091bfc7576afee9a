// The model-import dialog's state: the file being inspected and its key report (plain data; the opened file
// itself stays with the controller in src/ui/train/modelImport.ts).
import { create } from 'zustand';
import type { ImportReport } from '../model/checkpoints/keyMap';

export interface ModelImportState {
  /** idle: nothing open. reading: the directory/pickle is being read. report: the report is shown. using: weights are read. */
  phase: 'idle' | 'reading' | 'report' | 'using' | 'error';
  fileName: string | null;
  report: ImportReport | null;
  error: string | null;
  /** Why Use is not offered even though the file is usable (e.g. no reference model in this build), or null. */
  useBlocked: string | null;
  progress: { done: number; total: number } | null;
}

export const initialModelImport: ModelImportState = { phase: 'idle', fileName: null, report: null, error: null, useBlocked: null, progress: null };

export const useModelImportStore = create<ModelImportState>()(() => ({ ...initialModelImport }));
