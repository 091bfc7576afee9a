// Installs npm dependencies on a fresh clone so that `npm start` / `npm test` are the only commands needed.
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';

export function ensureDeps() {
  if (existsSync('node_modules/.package-lock.json') && existsSync('node_modules/vite')) return;
  console.log('[deps] installing npm dependencies (npm ci) …');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
}
