// `npm start`: install dependencies if needed, then serve the studio (with the bundled sample CTs) on localhost.
// The address printed is the one Vite actually bound (it moves on when 5173 is taken).
import { spawn } from 'node:child_process';
import { ensureDeps } from './ensure-deps.mjs';

ensureDeps();
const child = spawn('npx', ['vite', '--host', 'localhost', '--port', '5173', ...process.argv.slice(2)], { stdio: ['inherit', 'pipe', 'inherit'] });
let announced = false;
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  if (announced) return;
  // eslint-disable-next-line no-control-regex
  const url = chunk.toString().replace(/\x1b\[[0-9;]*m/g, '').match(/Local:\s+(http:\/\/\S+)/)?.[1];
  if (!url) return;
  announced = true;
  console.log(`\nVoCo Studio: open ${url} — two sample CTs load on start; press Start in the Train tab to pre-train.\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code) => process.exit(code ?? 0));
