// Types for scripts/security-headers.mjs.
export const ISOLATION_HEADERS: Record<string, string>;
export function contentSecurityPolicy(dev?: boolean): string;
export function securityHeaders(dev?: boolean): Record<string, string>;
export function parseCsp(header: string | null | undefined): Map<string, string[]>;
export function headerProblems(headers: Record<string, string>, opts?: { dev?: boolean }): string[];
