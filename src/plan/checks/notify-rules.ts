// notify (docs/notifications.md): a login has exactly one password source, a password travels only
// over TLS (or to a relay on this host), and timeouts leave a send some time.

import { parseDuration } from '../duration.js';
import { isObject, stringAt, valueAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

export function checkNotifyRules({ data, issues }: CheckContext): void {
  for (const channel of ['webhook', 'email']) {
    const timeout = stringAt(data, 'notify', channel, 'timeout');
    if (timeout !== undefined && parseDuration(timeout) === 0)
      issues.error(['notify', channel, 'timeout'], `notify.${channel}.timeout: must be longer than 0`);
  }
  const email = valueAt(data, 'notify', 'email');
  if (!isObject(email)) return;
  const sources = ['passwordEnv', 'passwordFile'].filter((key) => email[key] !== undefined);
  if (sources.length > 1)
    issues.error(
      ['notify', 'email', 'passwordFile'],
      'notify.email: give one of passwordEnv and passwordFile, not both',
      'key',
    );
  if (email.username === undefined && sources.length > 0)
    issues.error(['notify', 'email', sources[0]], `notify.email.${sources[0]}: a password needs a username`, 'key');
  if (email.username !== undefined && sources.length === 0)
    issues.error(
      ['notify', 'email', 'username'],
      'notify.email.username: give the password with passwordEnv or passwordFile',
      'key',
    );
  const host = typeof email.host === 'string' ? email.host.toLowerCase() : undefined;
  if (email.security === 'none' && sources.length > 0 && host !== undefined && !LOOPBACK.has(host)) {
    issues.error(
      ['notify', 'email', 'security'],
      `notify.email.security: none would send the password in clear text to ${host}; use starttls or tls (none is for a relay on this host)`,
    );
  }
}
