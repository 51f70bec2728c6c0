// `~` in hub-side paths (identityFile, knownHosts, passwordFile) means the user's home.

import os from 'node:os';
import path from 'node:path';

export function expandHome(file: string, home: string = os.homedir()): string {
  if (file === '~') return home;
  if (file.startsWith('~/')) return path.join(home, file.slice(2));
  return file;
}
