// A short mail of the run's end through an SMTP server (docs/notifications.md#email), sent with
// nodemailer: SMTP with STARTTLS, TLS and AUTH is easy to get subtly wrong, and nodemailer is the
// one Node.js SMTP client with no dependencies that is maintained and used everywhere. Loaded only
// when a plan sends mail.

import type { EmailSettings } from '../plan/types.js';
import { formatBytes } from '../format/bytes.js';
import type { RunEndFacts } from './run-end-facts.js';
import { readSecret } from './secret-value.js';

export async function sendEmail(email: EmailSettings, facts: RunEndFacts, env: NodeJS.ProcessEnv): Promise<void> {
  const pass =
    email.password === undefined
      ? undefined
      : await readSecret(email.password, env).catch((error: Error) =>
          Promise.reject(new Error(`password: ${error.message}`)),
        );
  const { createTransport } = await import('nodemailer');
  const transport = createTransport({
    host: email.host,
    port: email.port,
    secure: email.security === 'tls',
    requireTLS: email.security === 'starttls',
    ignoreTLS: email.security === 'none',
    ...(email.username !== undefined && { auth: { user: email.username, pass } }),
    connectionTimeout: email.timeout,
    greetingTimeout: email.timeout,
    socketTimeout: email.timeout,
  });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not sent within ${email.timeout / 1000}s`)), email.timeout);
  });
  try {
    await Promise.race([
      transport.sendMail({ from: email.from, to: [...email.to], subject: emailSubject(facts), text: emailText(facts) }),
      late,
    ]);
  } finally {
    clearTimeout(timer);
    transport.close();
  }
}

export function emailSubject(facts: RunEndFacts): string {
  const suspect = facts.suspect === undefined ? '' : `, SUSPECT point ${facts.backupId ?? ''}`;
  return `sendense-run: ${facts.kind} plan ${facts.plan} ${facts.status}${suspect} (VM ${facts.vm}, hub ${facts.hub})`;
}

// One fact a line, the names of the --json run-end event.
export function emailText(facts: RunEndFacts): string {
  const lines = [
    `plan: ${facts.plan}`,
    `kind: ${facts.kind}`,
    `vm: ${facts.vm}`,
    `hub: ${facts.hub}`,
    `runId: ${facts.runId}`,
    `status: ${facts.status}`,
    `seconds: ${facts.seconds.toFixed(1)}`,
    ...(facts.backupId !== undefined ? [`backupId: ${facts.backupId}`] : []),
    ...(facts.taken !== undefined ? [`taken: ${facts.taken}`] : []),
    ...(facts.bytes !== undefined && facts.bytes !== null
      ? [`bytes: ${facts.bytes} (${formatBytes(facts.bytes)})`]
      : []),
    ...(facts.suspect !== undefined ? [`suspect: ${facts.suspect}`] : []),
    ...(facts.error !== undefined ? [`error: ${facts.error}`] : []),
  ];
  return `${lines.join('\n')}\n`;
}
