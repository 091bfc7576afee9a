// The bench drivers' workers (one per backend): opened by handle, called by request id, a crash answers every
// pending call with the reason.
type Reply = { ok: boolean; value?: unknown; error?: string };

export function workerPool(what: string, create: () => Worker) {
  const workers = new Map<number, { worker: Worker; pending: Map<number, (r: Reply) => void> }>();
  let nextHandle = 1;
  let nextCall = 1;
  return {
    open(): number {
      const worker = create();
      const handle = nextHandle++;
      const pending = new Map<number, (r: Reply) => void>();
      worker.onmessage = (e) => {
        const p = pending.get(e.data.id);
        pending.delete(e.data.id);
        p?.(e.data);
      };
      worker.onerror = (e) => {
        for (const p of pending.values()) p({ ok: false, error: `${what} worker crashed: ${e.message}` });
        pending.clear();
      };
      workers.set(handle, { worker, pending });
      return handle;
    },
    async call<T>(handle: number, msg: Record<string, unknown>, transfer: Transferable[] = []): Promise<T> {
      const w = workers.get(handle);
      if (!w) throw new Error(`no ${what} worker ${handle}`);
      const id = nextCall++;
      const r = await new Promise<Reply>((resolve) => {
        w.pending.set(id, resolve);
        w.worker.postMessage({ ...msg, id }, transfer);
      });
      if (!r.ok) throw new Error(r.error);
      return r.value as T;
    },
    close(handle: number): void {
      workers.get(handle)?.worker.terminate();
      workers.delete(handle);
    },
  };
}
