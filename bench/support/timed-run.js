// Runs a command to the end and times it from spawn to exit; a non-zero exit fails the bench
// with the end of its output.
import { spawn } from 'node:child_process';
import { trackChild } from './scratch.js';

// seconds (wall clock), started/ended (epoch ms, to set against --json event times), output.
export function timedRun(argv, { env, stdin = 'pipe', stderr = 'pipe' } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const startedHr = process.hrtime.bigint();
    const child = trackChild(spawn(argv[0], argv.slice(1), { stdio: [stdin, 'pipe', stderr], env }));
    let stdout = '';
    let errors = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr?.on('data', (chunk) => (errors += chunk));
    child.once('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - startedHr) / 1e9;
      if (code !== 0)
        reject(new Error(`${argv.join(' ')} exited ${code}: ${stdout.slice(-2000)} ${errors.slice(-2000)}`));
      else resolve({ seconds, started, ended: Date.now(), stdout, stderr: errors });
    });
  });
}
