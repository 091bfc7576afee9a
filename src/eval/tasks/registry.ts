// Every downstream task the benchmark can run, by id (the same ids as catalog.ts).
import { fewShotSegmentationTask } from './fewShotSegmentation';
import { organProbeTask } from './organProbe';
import { positionTask } from './position';
import { retrievalTask } from './retrieval';
import { TASK_CATALOG } from './catalog';
import type { DownstreamTask } from './types';

export const TASKS: Record<string, DownstreamTask<any>> = Object.fromEntries(
  [positionTask, organProbeTask, fewShotSegmentationTask, retrievalTask].map((t) => [t.id, t as DownstreamTask<any>]),
);

for (const info of TASK_CATALOG) if (!TASKS[info.id]) throw new Error(`benchmark task "${info.id}" is described in catalog.ts but not registered`);

export function getTask(id: string): DownstreamTask<any> {
  const t = TASKS[id];
  if (!t) throw new Error(`Unknown benchmark task "${id}" (have ${Object.keys(TASKS).join(', ')})`);
  return t;
}
