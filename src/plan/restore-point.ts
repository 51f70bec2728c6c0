// restore.point (docs/plan-reference.md): "latest", "last-clean" (docs/anomaly.md), a backup id, or
// an ISO-8601 time meaning the newest complete backup at or before it. A string result is the reason the text is none of these.

import type { RestorePoint } from './types.js';

const BACKUP_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

export function parseRestorePoint(text: string): RestorePoint | string {
  if (text === 'latest') return { type: 'latest' };
  if (text === 'last-clean') return { type: 'last-clean' };
  if (DATE_ONLY.test(text))
    return `'${text}' is a date without a time; write e.g. ${text}T23:59:59Z (the newest backup at or before that time)`;
  const time = ISO_TIME.exec(text);
  if (time !== null) {
    const [year, month, day, hour, minute, second] = time.slice(1, 7).map((part) => Number(part ?? 0));
    const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
    const parsed = new Date(text.replace(' ', 'T'));
    if (
      month < 1 ||
      month > 12 ||
      day < 1 ||
      day > daysInMonth ||
      hour > 23 ||
      minute > 59 ||
      second > 59 ||
      Number.isNaN(parsed.getTime())
    ) {
      return `'${text}' is not a valid time`;
    }
    return { type: 'time', time: parsed };
  }
  if (BACKUP_ID.test(text)) return { type: 'id', id: text };
  return `must be latest, a backup id or an ISO-8601 time like 2025-01-31T02:00:00Z (got '${text}')`;
}
