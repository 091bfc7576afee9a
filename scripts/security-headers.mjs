// The response headers the studio must be served with, and a checker for them. Used by vite.config.ts (dev and
// preview servers), by `npm run check-headers -- <url>` (any host serving dist/) and by e2e/privacy.spec.ts.

/** Cross-origin isolation: SharedArrayBuffer and threaded wasm need it. */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * The Content-Security-Policy: the page talks to its own origin only. 'wasm-unsafe-eval' lets WebAssembly compile;
 * blob: serves emscripten's pthread workers. frame-ancestors works only as a header (a <meta> CSP ignores it).
 * `dev` adds what Vite's dev server needs (inline scripts for the React refresh preamble, its HMR WebSocket).
 */
export function contentSecurityPolicy(dev = false) {
  return [
    "default-src 'self'",
    `script-src 'self' 'wasm-unsafe-eval' blob:${dev ? " 'unsafe-inline'" : ''}`,
    "worker-src 'self' blob:",
    `connect-src 'self' blob: data:${dev ? ' ws://localhost:* ws://127.0.0.1:*' : ''}`,
    "img-src 'self' blob: data:",
    "style-src 'self' 'unsafe-inline'",
    "font-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** Every header the studio is served with (dev server: `dev = true`). */
export function securityHeaders(dev = false) {
  return {
    ...ISOLATION_HEADERS,
    'Content-Security-Policy': contentSecurityPolicy(dev),
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  };
}

/** A CSP header parsed directive by directive (names lower-case, sources as written; the first of a repeated directive wins, as browsers do). */
export function parseCsp(header) {
  const out = new Map();
  for (const part of String(header ?? '').split(';')) {
    const tokens = part.trim().split(/\s+/).filter(Boolean);
    if (!tokens.length) continue;
    const name = tokens[0].toLowerCase();
    if (!out.has(name)) out.set(name, tokens.slice(1));
  }
  return out;
}

// Sources a privacy-preserving policy may list: the page's own origin and local schemes, never a host.
const LOCAL_SOURCES = new Set(["'self'", "'none'", 'blob:', 'data:', "'wasm-unsafe-eval'", "'unsafe-inline'"]);
const FETCH_DIRECTIVES = ['default-src', 'script-src', 'worker-src', 'connect-src', 'img-src', 'style-src', 'font-src', 'media-src', 'frame-src', 'child-src', 'manifest-src', 'object-src'];

/**
 * Problems with a response's headers (names in any case); empty when the studio may be served this way.
 * `opts.dev` accepts the dev server's extras (inline scripts, the HMR WebSocket on localhost).
 */
export function headerProblems(headers, opts = {}) {
  const h = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  const problems = [];
  const expectEq = (name, value) => {
    if ((h[name] ?? '').trim().toLowerCase() !== value.toLowerCase()) problems.push(`${name}: expected "${value}", got ${h[name] == null ? 'nothing' : `"${h[name]}"`}`);
  };
  expectEq('cross-origin-opener-policy', 'same-origin');
  expectEq('cross-origin-embedder-policy', 'require-corp');
  expectEq('x-content-type-options', 'nosniff');
  const raw = h['content-security-policy'];
  if (!raw) {
    problems.push('content-security-policy: missing');
    return problems;
  }
  const csp = parseCsp(raw);
  const sources = (d) => csp.get(d) ?? csp.get('default-src');
  if (JSON.stringify(csp.get('default-src')) !== JSON.stringify(["'self'"])) problems.push(`default-src: expected 'self' only, got ${JSON.stringify(csp.get('default-src') ?? null)}`);
  if (JSON.stringify(csp.get('frame-ancestors')) !== JSON.stringify(["'none'"])) problems.push(`frame-ancestors: expected 'none', got ${JSON.stringify(csp.get('frame-ancestors') ?? null)}`);
  if (JSON.stringify(csp.get('object-src')) !== JSON.stringify(["'none'"])) problems.push(`object-src: expected 'none', got ${JSON.stringify(csp.get('object-src') ?? null)}`);
  for (const d of FETCH_DIRECTIVES) {
    for (const s of sources(d) ?? []) {
      const local = LOCAL_SOURCES.has(s) || (opts.dev && d === 'connect-src' && /^ws:\/\/(localhost|127\.0\.0\.1):\*$/.test(s));
      if (!local) problems.push(`${d}: "${s}" lets the page reach another origin`);
      if (s === "'unsafe-inline'" && d === 'script-src' && !opts.dev) problems.push("script-src: 'unsafe-inline' (only the dev server may allow it)");
      if (s === "'unsafe-eval'") problems.push(`${d}: 'unsafe-eval'`);
    }
  }
  if (!csp.has('connect-src') && !csp.has('default-src')) problems.push('connect-src: missing (and no default-src)');
  return problems;
}
