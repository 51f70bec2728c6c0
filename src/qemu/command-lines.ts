// The qemu-img and qemu-io command lines the hub, its kinds and the runners run where the files are
// (this host, a node over SSH, a copy's host), spelled here only: a caller runs the argv with its
// own runner and says its own error. No imports: the node transfer's bundle takes this file too.

/** An image file and the format it is opened as. */
export interface ImageOfFormat {
  readonly path: string;
  readonly format: string;
}

/** A backing file named in an image's header: its name, and its format (qcow2 when not said). */
export interface BackingName {
  readonly name: string;
  readonly format?: string;
}

/** Whether qemu-img is installed (a node's prerequisites). */
export function qemuImgVersionArgv(): string[] {
  return ['qemu-img', '--version'];
}

/** `file` opened as raw without -U: fails with qemu's lock error while a qemu process holds it. */
export function imageLockProbeArgv(file: string): string[] {
  return ['qemu-img', 'info', '-f', 'raw', file];
}

/** qemu-img info as JSON, its format probed; fails with qemu's lock error while a qemu writes it. */
export function imageInfoProbeArgv(file: string): string[] {
  return ['qemu-img', 'info', '--output=json', '--', file];
}

/** qemu-img check as JSON; `objectArgs`: the secret object an encrypted layer needs. */
export function imageCheckArgv(file: string, objectArgs: readonly string[] = []): string[] {
  return ['qemu-img', 'check', ...objectArgs, '--output=json', file];
}

/** qemu-img map as JSON (a json: filename opens one layer alone). */
export function imageMapArgv(file: string, objectArgs: readonly string[] = []): string[] {
  return ['qemu-img', 'map', ...objectArgs, '--output=json', file];
}

/** qemu-img map as JSON, `file` after `--` (a shell script's argument). */
export function imageMapArgvOf(file: string): string[] {
  return ['qemu-img', 'map', '--output=json', '--', file];
}

/** A new qcow2 file at `to` holding the whole image `from` reads (its backing chain folded in). */
export function convertToQcow2Argv(from: string, to: string): string[] {
  return ['qemu-img', 'convert', '-q', '-O', 'qcow2', '--', from, to];
}

/**
 * A copy into the file the hub created (-n: its cluster size, its options; --target-is-zero: it is
 * new), with progress (-p), ended with the process that runs it (setpriv --pdeathsig): the argv of setpriv.
 */
export function convertIntoNewFileSetprivArgv(source: ImageOfFormat, target: ImageOfFormat): string[] {
  return [
    '--pdeathsig',
    'KILL',
    '--',
    'qemu-img',
    'convert',
    '-p',
    '-n',
    '--target-is-zero',
    '-f',
    source.format,
    '-O',
    target.format,
    source.path,
    target.path,
  ];
}

/** A qcow2 overlay over a raw `backing` (e.g. an NBD URL), of `virtualSize` bytes: nothing is read from it now. */
export function createRawBackedOverlayArgv(overlay: string, backing: string, virtualSize: number): string[] {
  return ['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', backing, '--', overlay, String(virtualSize)];
}

/** A new empty qcow2 of `virtualSize` bytes, `file` after `--`. */
export function createQcow2Argv(file: string, virtualSize: number | string): string[] {
  return ['qemu-img', 'create', '-q', '-f', 'qcow2', '--', file, String(virtualSize)];
}

/** A new qcow2 over a qcow2 backing file named as given (relative to the new file's directory). */
export function createQcow2OverArgv(file: string, backing: string): string[] {
  return ['qemu-img', 'create', '-q', '-f', 'qcow2', '-b', backing, '-F', 'qcow2', '--', file];
}

/** A new empty qcow2 of `virtualSize` bytes, without `--` (a scratch or carrier file). */
export function createScratchQcow2Argv(file: string, virtualSize: number): string[] {
  return ['qemu-img', 'create', '-q', '-f', 'qcow2', file, String(virtualSize)];
}

/** The qcow2 `file`'s header made to name `backing` (none: stands alone), its data not read (-u). */
export function rebaseUnsafeArgv(file: string, backing: BackingName | undefined): string[] {
  const names = backing === undefined ? ['-b', ''] : ['-b', backing.name, '-F', backing.format ?? 'qcow2'];
  return ['qemu-img', 'rebase', '-q', '-u', '-f', 'qcow2', ...names, '--', file];
}

/** The qcow2 `file`'s clusters written into its backing file, `file` left as it was (-d). */
export function commitIntoBackingArgv(file: string): string[] {
  return ['qemu-img', 'commit', '-q', '-d', '-f', 'qcow2', '--', file];
}

/** A persistent bitmap added (`--add`) or removed (`--remove`); `format`: said with -f. */
export function bitmapArgv(action: '--add' | '--remove', file: string, name: string, format?: string): string[] {
  return ['qemu-img', 'bitmap', action, ...(format === undefined ? [] : ['-f', format]), file, name];
}

/**
 * Bitmap `from.name` of the qcow2 `from.path` merged into bitmap `name` of the qcow2 `file` (`add`:
 * created there first): a union, so merging again changes nothing.
 */
export function bitmapMergeArgv(
  file: string,
  name: string,
  from: { readonly path: string; readonly name: string },
  options: { readonly add?: boolean } = {},
): string[] {
  const add = options.add === true ? ['--add'] : [];
  return [
    'qemu-img',
    'bitmap',
    ...add,
    '--merge',
    from.name,
    '-b',
    from.path,
    '-F',
    'qcow2',
    '-f',
    'qcow2',
    file,
    name,
  ];
}

/** qemu-io reading `file` (a qcow2, read-only) with `commands` (`-c "read -v OFFSET LENGTH"` pairs). */
export function qemuIoReadArgv(file: string, commands: readonly string[]): string[] {
  return ['qemu-io', '-r', '-f', 'qcow2', ...commands, '--', file];
}

/** The programs a host needs for merges there (a copy's retention). */
export const MERGE_TOOLS: readonly string[] = ['qemu-img', 'qemu-io'];

/**
 * `argv` as one POSIX shell command: a word that is a shell parameter ($1, $@, $f) is double-quoted
 * so the script's arguments reach qemu whole; any other word not plain is single-quoted.
 */
export function shellCommand(argv: readonly string[]): string {
  return argv
    .map((word) => {
      if (/^\$(\d|@|[A-Za-z_]\w*)$/.test(word)) return `"${word}"`;
      if (/^[\w./,=:+-]+$/.test(word)) return word;
      return `'${word.replaceAll("'", `'\\''`)}'`;
    })
    .join(' ');
}
