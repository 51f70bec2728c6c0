// How the transfer runs qemu-img: node:child_process alone, so the bundle carries no execa
// (src/qemu/command-runner.ts's runLocal is the hub's, with execa).

import { execFile } from 'node:child_process';
import type { CommandRunner } from '../../src/qemu/command-runner.js';

// qemu-img info of an image with many bitmaps is long: room enough for it.
const MAX_OUTPUT = 16 * 1024 * 1024;

export const runCommand: CommandRunner = (argv) =>
  new Promise((resolve) => {
    const [file, ...args] = argv;
    execFile(file!, args, { maxBuffer: MAX_OUTPUT }, (error, stdout, stderr) => {
      if (error === null) return resolve({ exitCode: 0, stdout, stderr });
      // Could not start at all (ENOENT): like a shell's "command not found".
      const exitCode = typeof error.code === 'number' ? error.code : error.code === 'ENOENT' ? 127 : 1;
      resolve({ exitCode, stdout, stderr: stderr || `${file}: ${error.message}` });
    });
  });
