// What a request refused before its route ran asked for (docs/api.md#the-audit-record): the
// audit record's target, read from the route's path parameters and a files route's path and disk,
// as the client sent them (nothing is looked up for a caller who may not look).

const NOUNS: Readonly<Record<string, string>> = {
  backups: 'point',
  restore: 'point',
  plans: 'plan',
  tasks: 'task',
  tokens: 'token',
  vms: 'VM',
  chain: 'VM',
};
const LONGEST = 300;

export function requestedTarget(url: string, params: unknown, query: unknown): string | null {
  const given = (params ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  const segments = url.split('/');
  segments.forEach((segment, index) => {
    if (!segment.startsWith(':')) return;
    const value = given[segment.slice(1)];
    if (typeof value !== 'string' || value === '') return;
    parts.push(`${NOUNS[segments[index - 1] ?? ''] ?? segment.slice(1)} ${shortened(value)}`);
  });
  const asked = (query ?? {}) as Record<string, unknown>;
  if (typeof asked.disk === 'string' && asked.disk !== '') parts.push(`disk ${shortened(asked.disk)}`);
  if (typeof asked.path === 'string' && asked.path !== '') parts.push(`path ${shortened(asked.path)}`);
  return parts.length === 0 ? null : parts.join(', ');
}

function shortened(text: string): string {
  return text.length > LONGEST ? `${text.slice(0, LONGEST)}…` : text;
}
