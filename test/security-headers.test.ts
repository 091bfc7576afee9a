// The headers the studio is served with, and the checker `npm run check-headers` runs against a deployment.
import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy, headerProblems, parseCsp, securityHeaders } from '../scripts/security-headers.mjs';

describe('security headers', () => {
  it('the preview/production headers pass the check; the dev headers pass only as dev', () => {
    expect(headerProblems(securityHeaders(false))).toEqual([]);
    expect(headerProblems(securityHeaders(true), { dev: true })).toEqual([]);
    expect(headerProblems(securityHeaders(true)).join('\n')).toMatch(/script-src: 'unsafe-inline'/);
  });

  it('parses the CSP directive by directive (first of a repeated directive wins)', () => {
    const csp = parseCsp("default-src 'self'; connect-src 'self' blob:;frame-ancestors 'none'; connect-src *");
    expect(csp.get('connect-src')).toEqual(["'self'", 'blob:']);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(parseCsp(contentSecurityPolicy(false)).get('frame-ancestors')).toEqual(["'none'"]);
  });

  it('names each problem: a foreign host, no frame-ancestors, no nosniff, no isolation', () => {
    const base = securityHeaders(false);
    const csp = contentSecurityPolicy(false);
    const foreign = headerProblems({ ...base, 'Content-Security-Policy': csp.replace("connect-src 'self'", "connect-src 'self' https://telemetry.example.com") });
    expect(foreign).toEqual(['connect-src: "https://telemetry.example.com" lets the page reach another origin']);
    const noFrame = headerProblems({ ...base, 'Content-Security-Policy': csp.replace("; frame-ancestors 'none'", '') });
    expect(noFrame).toEqual(["frame-ancestors: expected 'none', got null"]);
    const { 'X-Content-Type-Options': _n, 'Cross-Origin-Embedder-Policy': _c, ...rest } = base;
    expect(headerProblems(rest)).toEqual(['cross-origin-embedder-policy: expected "require-corp", got nothing', 'x-content-type-options: expected "nosniff", got nothing']);
    // A substring match would accept this; the directive-wise check does not.
    const sneaky = headerProblems({ ...base, 'Content-Security-Policy': "default-src 'self' https://cdn.example.com; frame-ancestors 'none'; object-src 'none'; x-note default-src 'self'" });
    expect(sneaky.join('\n')).toMatch(/default-src: expected 'self' only/);
  });
});
