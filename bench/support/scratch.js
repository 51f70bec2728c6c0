// What a bench leaves behind: its scratch directory and the processes it started, both gone
// when it exits (also on Ctrl-C or a failure halfway).
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const children = new Set();
const dirs = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
process.on('SIGINT', () => process.exit(130));

// A new directory under BENCH_TMPDIR (default /var/tmp: the images are GiBs, /tmp may be RAM).
export function scratchDir(prefix) {
  const dir = mkdtempSync(join(process.env.BENCH_TMPDIR ?? '/var/tmp', prefix));
  dirs.push(dir);
  return dir;
}

// Killed when the bench exits, unless it has exited by then.
export function trackChild(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

// SIGTERM, resolved once it has exited.
export function stopChild(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGTERM');
  });
}
