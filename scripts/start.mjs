// `npm start`: install dependencies if needed, then serve the studio (with the bundled sample CT) on localhost.
import { spawn } from 'node:child_process';
import { ensureDeps } from './ensure-deps.mjs';

ensureDeps();
console.log('VoCo Studio: open http://localhost:5173 (the sample CT loads on start)');
const child = spawn('npx', ['vite', '--host', 'localhost', '--port', '5173', ...process.argv.slice(2)], { stdio: 'inherit' });
child.on('exit', (code) => process.exit(code ?? 0));
