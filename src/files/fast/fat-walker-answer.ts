// What the FAT walker (./fat-walker.ts, a sandboxed process) answers the hub (./fat-reader.ts).

/** A damaged volume or a missing path: one line on its stderr. */
export const EXIT_DAMAGE = 2;
/** What the appliance should read (a name in a code page, a path differing only in case). */
export const EXIT_NOT_FOR_FAST_PATH = 3;

/** One listed entry as the walker prints it, a JSON line (the name in base64: any bytes). */
export interface WalkedEntry {
  readonly name: string;
  readonly directory: boolean;
  readonly size: number;
  readonly mode: number;
  readonly mtime: number;
  readonly atime: number;
}
