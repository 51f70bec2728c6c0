// One backup file's own layer, without its backing chain (qemu's "backing": null): what that
// file itself holds, so a difference is found in the file that has it, not in its children.

// A qemu filename (json: pseudo-protocol) that opens `file` as qcow2 with no backing file.
export function ownLayerFilename(file: string): string {
  return `json:${JSON.stringify({ driver: 'qcow2', backing: null, file: { driver: 'file', filename: file } })}`;
}
