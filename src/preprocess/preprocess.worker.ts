// Module worker: runs preprocessVolume off the main thread and hands the result's buffers back without copying.
import type { PreprocessRequest, PreprocessResponse } from './messages';
import { preprocessVolume } from './preprocess';

const scope = self as unknown as DedicatedWorkerGlobalScope;

scope.onmessage = (event: MessageEvent<PreprocessRequest>) => {
  const { id, volume, settings } = event.data;
  let reply: PreprocessResponse;
  const transfer: Transferable[] = [];
  try {
    const t0 = performance.now();
    const result = preprocessVolume(volume, settings);
    reply = { id, ok: true, result, ms: performance.now() - t0 };
    transfer.push(result.data.buffer as ArrayBuffer);
    if (result.labels) transfer.push(result.labels.buffer as ArrayBuffer);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // preprocessVolume names the volume itself; anything else failed before it could
    reply = { id, ok: false, message: message.startsWith('Preprocessing ') ? message : `Preprocessing "${volume?.name ?? '?'}" failed: ${message}` };
  }
  scope.postMessage(reply, transfer);
};
