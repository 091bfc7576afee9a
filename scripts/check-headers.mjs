#!/usr/bin/env node
// Checks that a host serving the studio (dist/) sends the headers it needs: cross-origin isolation (COOP/COEP),
// the Content-Security-Policy (own origin only, frame-ancestors 'none'), X-Content-Type-Options: nosniff, and
// correct types for its scripts and WebAssembly.
//
//   npm run check-headers -- https://studio.example.org/
// Exit code 0 when every check passes, 1 otherwise (one line per problem).
import { headerProblems } from './security-headers.mjs';

const url = process.argv[2];
if (!url) {
  console.error('usage: npm run check-headers -- <url of the studio, e.g. https://host/voco/>');
  process.exit(2);
}
const problems = [];
const page = await fetch(url, { redirect: 'follow' }).catch((e) => {
  console.error(`${url}: ${e.message}`);
  process.exit(1);
});
const headers = Object.fromEntries(page.headers.entries());
problems.push(...headerProblems(headers).map((p) => `${page.url}: ${p}`));
const html = await page.text();
// One script of the page: served as JavaScript (nosniff refuses anything else) and with the same isolation headers.
const script = /<script[^>]+src="([^"]+)"/.exec(html)?.[1];
if (script) {
  const res = await fetch(new URL(script, page.url));
  const type = res.headers.get('content-type') ?? '';
  if (!/javascript/.test(type)) problems.push(`${res.url}: content-type "${type}" (a script must be served as text/javascript)`);
  if (res.headers.get('cross-origin-resource-policy') == null && res.headers.get('cross-origin-embedder-policy') == null)
    problems.push(`${res.url}: neither Cross-Origin-Resource-Policy nor COEP sent (send the same headers for every file)`);
} else problems.push(`${page.url}: no <script src> found: is this the studio's index.html?`);
// WebAssembly must be application/wasm for streaming compilation.
const wasm = new URL('tfjs-wasm/tfjs-backend-wasm-simd.wasm', page.url);
const w = await fetch(wasm, { method: 'HEAD' }).catch(() => null);
if (!w || !w.ok) problems.push(`${wasm}: not found (${w ? w.status : 'no response'}): is dist/tfjs-wasm deployed?`);
else if (!/application\/wasm/.test(w.headers.get('content-type') ?? '')) problems.push(`${wasm}: content-type "${w.headers.get('content-type')}" (expected application/wasm)`);

if (problems.length) {
  for (const p of problems) console.log(`✗ ${p}`);
  console.log(`${problems.length} problem${problems.length > 1 ? 's' : ''}: see docs/deploy.md`);
  process.exit(1);
}
console.log(`✓ ${page.url}: COOP/COEP, CSP (own origin only, frame-ancestors 'none'), nosniff, script and wasm types all as needed`);
