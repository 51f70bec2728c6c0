// How verify's findings are shown: one line per disk checked and one per damaged backup, or one
// JSON object each with --json.

import { formatBytes } from '../format/bytes.js';
import type { VerifyEvent, VerifyOutcome } from './verify-backups.js';

export function verifyLine(event: VerifyEvent): string {
  if (event.type === 'damaged') {
    const others =
      event.builtOnIt.length > 0 ? `; built on it, also marked damaged: ${event.builtOnIt.join(', ')}` : '';
    return `DAMAGED backup ${event.backupId} of ${event.vm}: ${event.because}${others}`;
  }
  if (event.type === 'cleared')
    return `CLEARED backup ${event.backupId} of ${event.vm}: every file matches its manifest again and what it stands on is complete: restorable (was damaged: ${event.was})`;
  if (event.type === 'still-damaged') return `still damaged: backup ${event.backupId} of ${event.vm}: ${event.because}`;
  if (event.type === 'repository-not-verified')
    return `NOT VERIFIED: ${event.backups.length} backup(s) in ${event.repository}: ${event.reason}`;
  if (event.type === 'not-verified') return `backup ${event.backupId} of ${event.vm}: not verified: ${event.reason}`;
  const what = `backup ${event.backupId} disk ${event.disk}`;
  if (event.type === 'unverifiable') return `${what}: not verified: ${event.reason}`;
  if (!event.ok) return `${what}: ${event.findings.map((finding) => finding.message).join('; ')}`;
  const authenticated =
    event.authenticated === true
      ? "; its manifest now carries its authentication code and names its file's LUKS header"
      : '';
  return `${what}: ok (${event.digestsChecked ? `${formatBytes(event.bytesRead)} read, every digest matches` : 'metadata only: no digests recorded'}${authenticated})`;
}

// "verified 3 backup(s), no damage found; 1 cleared; 2 not verified (…)".
export function verifySummary(outcome: VerifyOutcome): string {
  const parts = [
    `verified ${outcome.checked} backup(s)${outcome.damaged.length > 0 ? `, ${outcome.damaged.length} marked damaged` : ', no damage found'}`,
  ];
  if (outcome.cleared.length > 0)
    parts.push(`${outcome.cleared.length} damage mark(s) cleared (${outcome.cleared.join(', ')})`);
  if (outcome.notVerified.length > 0)
    parts.push(
      `${outcome.notVerified.length} not verified this time (a merge under way or unfinished, or a file in use)`,
    );
  if (outcome.unverifiable.length > 0) parts.push(`${outcome.unverifiable.length} without manifests not verified`);
  const locked = outcome.lockedRepositories;
  if (locked.length > 0) {
    const backups = locked.reduce((sum, entry) => sum + entry.backups.length, 0);
    parts.push(
      `${backups} backup(s) in ${locked.length} encrypted repository(ies) not verified: no key given opens ${locked.map((entry) => entry.repository).join(', ')}`,
    );
  }
  return parts.join('; ');
}
