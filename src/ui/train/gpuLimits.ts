// The WebGPU adapter's buffer limits (null without WebGPU), asked once per page.
import { useEffect, useState } from 'react';
import { looksSoftware } from '../../backend/choose';
import type { GpuLimits } from '../../store/runConfig';

let limitsPromise: Promise<GpuLimits | null> | null = null;

/** The WebGPU adapter's buffer limits (null without WebGPU), asked once per page. */
export function useGpuLimits(): GpuLimits | null {
  const [limits, setLimits] = useState<GpuLimits | null>(null);
  useEffect(() => {
    limitsPromise ??= (async () => {
      try {
        const adapter = await navigator.gpu?.requestAdapter();
        if (!adapter) return null;
        const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo & { isFallbackAdapter?: boolean } }).info;
        const software = Boolean(info?.isFallbackAdapter) || looksSoftware(info?.vendor, info?.architecture, info?.description);
        return { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize, software };
      } catch {
        return null;
      }
    })();
    let live = true;
    void limitsPromise.then((l) => live && setLimits(l));
    return () => {
      live = false;
    };
  }, []);
  return limits;
}
