// Every readable filesystem of the appliance's disk mounted read-only under its short name
// (/p1, /vg0/root, /disk) in the appliance's root, ready to be exposed by mount_local.

import { readable } from './filesystems.js';
import { guestfsMessage, type GuestFiles } from './guest-files.js';

// Returns the names mounted; a filesystem that does not mount is skipped with a note.
export async function mountEveryFilesystem(files: GuestFiles, note: (line: string) => void): Promise<string[]> {
  const wanted = files.layout.filesystems.filter(readable);
  // Mountpoints in the appliance's root can only be made before anything is mounted on /.
  const made = new Set<string>();
  for (const fs of wanted) {
    const parts = fs.name.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const dir = `/${parts.slice(0, i).join('/')}`;
      if (made.has(dir)) continue;
      await files.agent.call('mkmountpoint', [dir]);
      made.add(dir);
    }
  }
  const mounted: string[] = [];
  for (const fs of wanted) {
    try {
      await files.agent.call('mount_ro', [fs.device, `/${fs.name}`]);
      mounted.push(fs.name);
    } catch (error) {
      note(`${fs.name} (${fs.type}) is left out: it did not mount (${guestfsMessage(error)})`);
    }
  }
  return mounted;
}
