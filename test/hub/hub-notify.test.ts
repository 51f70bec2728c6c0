// The hub config's notify (docs/notifications.md): written like a plan's, built with its defaults,
// and a mistake is one error at file:line:column that never shows a secret written in it.

import { describe, expect, it } from 'vitest';
import { parseHubConfig } from '../../src/hub/hub-config.js';

function errorOf(text: string): string {
  try {
    parseHubConfig(text, '/etc/sendense/hub.yaml');
  } catch (error) {
    return (error as { describe(): string }).describe();
  }
  throw new Error('no error');
}

describe('hub config notify', () => {
  it('is built with the defaults a plan gets', () => {
    const hub = parseHubConfig(
      [
        'notify:',
        '  webhook:',
        '    url: https://hooks.example.test/x',
        '    headers:',
        '      Authorization: { env: HOOK_AUTH }',
        '  email:',
        '    host: smtp.example.test',
        '    from: a@example.test',
        '    to: [b@example.test]',
      ].join('\n'),
      '/etc/sendense/hub.yaml',
    );
    expect(hub.notify).toEqual({
      on: 'failure',
      webhook: {
        url: 'https://hooks.example.test/x',
        headers: { Authorization: { env: 'HOOK_AUTH' } },
        timeout: 10_000,
        retries: 2,
      },
      email: {
        host: 'smtp.example.test',
        port: 587,
        security: 'starttls',
        from: 'a@example.test',
        to: ['b@example.test'],
        timeout: 30_000,
      },
    });
    expect(Object.isFrozen(hub.notify?.webhook?.headers)).toBe(true);
  });

  it('a header value written in it is refused at its place, not shown', () => {
    const message = errorOf(
      [
        'name: hub-a',
        'notify:',
        '  webhook:',
        '    url: https://hooks.example.test/x',
        '    headers:',
        '      X-Token: s3cr3t-value',
      ].join('\n'),
    );
    expect(message).toBe(
      '/etc/sendense/hub.yaml:6:16: hub config: notify.webhook.headers.X-Token: a header value must not be written in a plan; read it from { env: NAME } or { file: PATH } (the value is not shown)',
    );
  });

  it('a schema mistake and a rule are reported like a plan’s', () => {
    expect(errorOf(['notify:', '  on: sometimes'].join('\n'))).toMatch(
      /^\/etc\/sendense\/hub\.yaml:2:7: hub config: notify\.on: /,
    );
    const clear = [
      'notify:',
      '  email:',
      '    host: smtp.example.test',
      '    security: none',
      '    from: a@x.test',
      '    to: [b@x.test]',
      '    username: u',
      '    passwordEnv: SMTP_PASSWORD',
    ];
    expect(errorOf(clear.join('\n'))).toContain(
      'notify.email.security: none would send the password in clear text to smtp.example.test',
    );
  });
});
