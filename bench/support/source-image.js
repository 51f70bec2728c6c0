// The VM disk the benches copy: regions of 8 MiB random data, each followed by an 8 MiB hole,
// converted to qcow2 (so 128 regions = 1 GiB of data). Returns the qcow2's virtual size.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';

const MiB = 1024 * 1024;

// size: the virtual size (default: up to the end of the last region).
export function makeSourceImage(file, { regions, size }) {
  const raw = `${file}.raw`;
  const fd = openSync(raw, 'w');
  for (let region = 0; region < regions; region++) writeSync(fd, randomBytes(8 * MiB), 0, 8 * MiB, region * 16 * MiB);
  closeSync(fd);
  if (size !== undefined) execFileSync('truncate', ['-s', String(size), raw]);
  execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, file]);
  rmSync(raw);
  return JSON.parse(execFileSync('qemu-img', ['info', '--output=json', file], { encoding: 'utf8' }))['virtual-size'];
}
