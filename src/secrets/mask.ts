// Secrets the hub knows (a vCenter password, a token a hook is given) never leave it in clear:
// whatever sendense-run prints or stores passes through maskSecrets, so a child program that
// echoes a password ("bad password hunter2") cannot put it into a log, an error or the database.

const MASK = '***';
// Shorter values would mask ordinary words; no real password is that short.
const MIN_LENGTH = 4;
const known = new Set<string>();

export function addSecret(value: string | undefined): void {
  if (value !== undefined && value.length >= MIN_LENGTH) known.add(value);
}

// Whether a value (an environment variable's, say) is one of the secrets, a trailing newline aside.
export function holdsSecret(value: string): boolean {
  return known.size > 0 && known.has(value.replace(/\r?\n$/, '').trim());
}

export function maskSecrets(text: string): string;
export function maskSecrets(text: string | undefined): string | undefined;
export function maskSecrets(text: string | undefined): string | undefined {
  if (text === undefined || known.size === 0) return text;
  let masked = text;
  // Longest first: a secret that contains another is masked whole.
  for (const secret of [...known].sort((a, b) => b.length - a.length)) masked = masked.split(secret).join(MASK);
  return masked;
}

// Every string inside a value (an event, a JSON line), masked.
export function maskDeep<T>(value: T): T {
  if (known.size === 0) return value;
  if (typeof value === 'string') return maskSecrets(value) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => maskDeep(item)) as T;
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, maskDeep(item)])) as T;
  }
  return value;
}

// Environment variables whose names say they hold a secret (a hook's ${WEBHOOK_TOKEN}).
export function isSecretName(name: string): boolean {
  return /pass|token|secret|key|credential|auth/i.test(name);
}
