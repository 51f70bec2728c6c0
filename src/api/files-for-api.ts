// The files routes' implementation (docs/api.md#files-of-a-point) for a server: warm browse
// sessions over points (./files/browse-sessions.ts).

import type { Store } from '../store/index.js';
import { ApiError } from './api-error.js';
import type { ApiFiles } from './files-port.js';

export function openFilesForApi(_store: Store): ApiFiles {
  const unavailable = async (): Promise<never> => {
    throw new ApiError('not-found', 'file browsing is not available on this hub yet');
  };
  return { filesystems: unavailable, list: unavailable, stat: unavailable, openFile: unavailable, zipDirectory: unavailable, closeAll: async () => {} };
}
