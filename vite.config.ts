import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { securityHeaders } from './scripts/security-headers.mjs';

// Cross-origin isolation, the CSP (own origin only, frame-ancestors 'none'), nosniff: scripts/security-headers.mjs,
// shared with `npm run check-headers` and the privacy test. A static host of dist/ must send the same (docs/deploy.md).
/** Serve tfjs-backend-wasm binaries from our own origin (never a CDN). */
function tfjsWasmFiles(): Plugin {
  const copy = () => {
    const src = resolve(import.meta.dirname, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
    const dst = resolve(import.meta.dirname, 'public/tfjs-wasm');
    mkdirSync(dst, { recursive: true });
    for (const f of readdirSync(src)) if (f.endsWith('.wasm')) cpSync(resolve(src, f), resolve(dst, f));
  };
  return { name: 'tfjs-wasm-files', buildStart: copy, configureServer: copy };
}

/**
 * The threaded wasm backend starts each pthread worker by re-evaluating `factory.toString()` in a blob.
 * Minification renames the factory's closure variable `_scriptDir`, so that copy throws
 * "e is not defined" and wasm never starts. Pin toString() to the unminified source (a string literal,
 * which the minifier leaves alone): the pthread workers then run exactly the code emscripten shipped.
 */
function tfjsWasmThreadsMinifySafe(): Plugin {
  return {
    name: 'tfjs-wasm-threads-minify-safe',
    transform(code, id) {
      if (!id.replace(/\\/g, '/').endsWith('tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js')) return null;
      const start = code.indexOf('function(WasmBackendModuleThreadedSimd)');
      const end = code.lastIndexOf('\n);\n})();');
      if (start < 0 || end < start) this.error(`unexpected layout of ${id}: cannot pin the pthread factory source`);
      const source = JSON.stringify(code.slice(start, end));
      return { code: `${code}\nWasmBackendModuleThreadedSimd.toString = () => ${source};\n`, map: null };
    },
  };
}

export default defineConfig({
  plugins: [react(), tfjsWasmFiles(), tfjsWasmThreadsMinifySafe()],
  server: { host: 'localhost', port: 5173, headers: securityHeaders(true) },
  preview: { host: 'localhost', port: 4173, headers: securityHeaders(false) },
  worker: { format: 'es', plugins: () => [tfjsWasmThreadsMinifySafe()] },
  // The dev server pre-bundles tfjs-backend-wasm like every other dependency (served raw, its CommonJS pthread
  // worker file cannot be imported as a module). Workers are crawled at start so that their first use never
  // triggers a re-optimisation and page reload in the middle of a run.
  optimizeDeps: { exclude: ['@niivue/dcm2niix'], entries: ['index.html', 'selftest.html', 'src/**/*.worker.ts'] },
  build: {
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 8000,
    rollupOptions: { input: { main: resolve(import.meta.dirname, 'index.html'), selftest: resolve(import.meta.dirname, 'selftest.html') } },
  },
});
