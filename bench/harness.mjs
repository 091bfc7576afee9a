// What both benches share: the selftest harness (selftest.html + its workers) built with the project's vite config,
// served by `vite preview` on a free localhost port.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, 'localhost', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

async function waitForHttp(url, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`vite preview did not answer at ${url} within ${ms / 1000} s`);
}

/**
 * Builds the selftest entry alone into `dist` (unless `reuse` and a build is there), with the project's
 * vite.config.ts (headers, wasm files, worker plugins), so a half-finished UI cannot block a bench.
 */
export async function buildSelftestHarness(root, dist, { reuse, log }) {
  if (reuse && existsSync(join(dist, 'selftest.html'))) return;
  log('building the selftest harness into bench/out/dist …');
  const { build } = await import('vite');
  const selftestOnly = {
    name: 'bench-selftest-only',
    configResolved(c) {
      const input = { selftest: join(root, 'selftest.html') };
      if (c.build.rolldownOptions) c.build.rolldownOptions.input = input;
      if (c.build.rollupOptions) c.build.rollupOptions.input = input;
    },
  };
  await build({ root, logLevel: 'warn', build: { outDir: dist, emptyOutDir: true }, plugins: [selftestOnly] });
}

/** Serves `dist` with vite preview; resolves with its base URL once selftest.html answers, and a stop (also run at exit). */
export async function serveSelftestHarness(root, dist) {
  const port = await freePort();
  const preview = spawn('npx', ['vite', 'preview', '--host', 'localhost', '--port', String(port), '--strictPort', '--outDir', dist], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
  const stop = () => {
    try {
      process.kill(-preview.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  };
  process.on('exit', stop);
  const base = `http://localhost:${port}`;
  await waitForHttp(`${base}/selftest.html`, 60_000);
  return { base, stop };
}
