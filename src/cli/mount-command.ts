// `sendense-run mount VM [--point P] [--disk KEY] DIR` (SPEC section 11): not written yet.

import { usageError } from '../errors.js';
import type { Command } from './context.js';

export const mountCommand: Command = async () => {
  throw usageError('mount is not available yet');
};
