// The two messages between client.ts (main thread) and preprocess.worker.ts.
import type { PreprocessedVolume, Volume } from '../volume/volume';
import type { PreprocessSettings } from './settings';

export interface PreprocessRequest {
  id: number;
  volume: Volume;
  settings: PreprocessSettings;
}

export type PreprocessResponse =
  | { id: number; ok: true; result: PreprocessedVolume; /** time spent in preprocessVolume */ ms: number }
  | { id: number; ok: false; message: string };
