// How our qemu processes open an encrypted backup file (docs/encryption.md#how-keys-work): the
// repository's secret reaches QEMU as a secret object read from file descriptor 3 (secret-fd.ts),
// never a command line, a named file or the environment.

/** The id of the secret object every encrypted layer names (encrypt.key-secret). */
export const SECRET_ID = 'sendense-key';
/** The descriptor QEMU reads the secret from. */
export const SECRET_FD = 3;

/** What a qemu command needs besides its argv to open an encrypted image: the secret for fd 3. */
export interface ImageSecret {
  readonly passphrase: string;
}

/** --object arguments of a command that opens encrypted layers; empty without a secret. */
export function secretObjectArgs(secret: ImageSecret | undefined): string[] {
  return secret === undefined ? [] : ['--object', `secret,id=${SECRET_ID},file=/dev/fd/${SECRET_FD},format=raw`];
}
