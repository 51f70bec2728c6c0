// Defaults a plan's parts take when the file leaves them out (docs/plan-reference.md), in one file
// so the source definitions (src/source) and the plan builders share them without a cycle.

export const DEFAULT_CLIENT_PATH = '/usr/local/bin/sendense-backup-client';
export const DEFAULT_LIBVIRT_URI = 'qemu:///system';
// World-searchable and on disk on every distribution: QEMU's user must reach the run's directory in it.
export const DEFAULT_LIBVIRT_SCRATCH = '/var/tmp';
