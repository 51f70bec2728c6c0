// The files routes' user error: a SendenseError (one line, never a stack) with the one fact the
// API needs to answer it — why the request cannot be served (docs/file-level-restore.md, "Through the API").

import { SendenseError } from '../../errors.js';

export type FilesRefusal =
  /** The path, range or filesystem name is not one a request may give (400). */
  | 'bad-request'
  /** No such point, disk or guest path (404). */
  | 'not-found'
  /** The path is not what the operation reads: a directory to download, a symlink, a device (409). */
  | 'wrong-type'
  /** The byte range lies outside the file (416). */
  | 'range'
  /** Every browse session is in use (503). */
  | 'busy';

export class FilesRequestError extends SendenseError {
  constructor(
    readonly refusal: FilesRefusal,
    message: string,
    cause?: unknown,
  ) {
    super(message, {
      exitCode: refusal === 'bad-request' || refusal === 'not-found' || refusal === 'range' ? 2 : 1,
      cause,
    });
    this.name = 'FilesRequestError';
  }
}
