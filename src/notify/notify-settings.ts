// The typed `notify` of a plan or of the hub config (docs/notifications.md), from data that passed
// the schema: defaults filled in, durations parsed, ~ expanded.

import { parseDuration } from '../plan/duration.js';
import { expandHome } from '../plan/home-path.js';
import type { RawNotify, RawNotifyEmail, RawNotifyWebhook } from '../plan/plan-shape.generated.js';
import type { EmailSettings, NotifySettings, SecretSource, WebhookSettings } from '../plan/types.js';

export const DEFAULT_WEBHOOK_TIMEOUT = '10s';
export const DEFAULT_WEBHOOK_RETRIES = 2;
export const DEFAULT_EMAIL_TIMEOUT = '30s';

export function buildNotify(raw: RawNotify): NotifySettings {
  return {
    on: raw.on ?? 'failure',
    ...(raw.webhook && { webhook: buildWebhook(raw.webhook) }),
    ...(raw.email && { email: buildEmail(raw.email) }),
  };
}

function buildWebhook(raw: RawNotifyWebhook): WebhookSettings {
  const headers = Object.entries(raw.headers ?? {}).map(([name, value]) => [name, secretSource(value)] as const);
  return {
    url: raw.url,
    headers: Object.fromEntries(headers),
    timeout: parseDuration(raw.timeout ?? DEFAULT_WEBHOOK_TIMEOUT)!,
    retries: raw.retries ?? DEFAULT_WEBHOOK_RETRIES,
  };
}

// Port 465 is TLS from the first byte (RFC 8314); any other port upgrades with STARTTLS.
function buildEmail(raw: RawNotifyEmail): EmailSettings {
  const security = raw.security ?? (raw.port === 465 ? 'tls' : 'starttls');
  const password =
    raw.passwordEnv !== undefined
      ? { env: raw.passwordEnv }
      : raw.passwordFile !== undefined
        ? { file: raw.passwordFile }
        : undefined;
  return {
    host: raw.host,
    port: raw.port ?? (security === 'tls' ? 465 : 587),
    security,
    from: raw.from,
    to: [...raw.to],
    ...(raw.username !== undefined && { username: raw.username }),
    ...(password && { password: secretSource(password) }),
    timeout: parseDuration(raw.timeout ?? DEFAULT_EMAIL_TIMEOUT)!,
  };
}

function secretSource(raw: { readonly env?: string; readonly file?: string }): SecretSource {
  return raw.env !== undefined ? { env: raw.env } : { file: expandHome(raw.file!) };
}
