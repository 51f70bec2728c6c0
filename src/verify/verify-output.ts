// How verify's findings are shown: one line per disk checked and one per damaged backup, or one
// JSON object each with --json.

import { formatBytes } from '../format/bytes.js';
import type { VerifyEvent } from './verify-backups.js';

export function verifyLine(event: VerifyEvent): string {
  if (event.type === 'damaged') {
    const others = event.builtOnIt.length > 0 ? `; built on it, also marked damaged: ${event.builtOnIt.join(', ')}` : '';
    return `DAMAGED backup ${event.backupId} of ${event.vm}: ${event.because}${others}`;
  }
  const what = `backup ${event.backupId} disk ${event.disk}`;
  if (event.type === 'unverifiable') return `${what}: not verified: ${event.reason}`;
  if (!event.ok) return `${what}: ${event.findings.map((finding) => finding.message).join('; ')}`;
  return event.digestsChecked ? `${what}: ok (${formatBytes(event.bytesRead)} read, every digest matches)` : `${what}: ok (metadata only: no digests recorded)`;
}
