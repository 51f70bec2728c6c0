// Sends a run's notifications once its end is recorded (docs/notifications.md). One that cannot be
// sent is a warning and a line in the run's note: it never changes the run's result.

import type { RunReporter } from '../engine/run-events.js';
import type { NotifySettings } from '../plan/types.js';
import type { Store } from '../store/index.js';
import type { RunEndFacts } from './run-end-facts.js';
import { urlOrigin } from './secret-value.js';
import { sendWebhook } from './send-webhook.js';

export interface NotifyOptions {
  readonly store: Store;
  readonly reporter: RunReporter;
  readonly env: NodeJS.ProcessEnv;
}

export function wantsNotice(notify: NotifySettings, status: RunEndFacts['status'], suspect?: string): boolean {
  // A suspect point is told at once, whatever `on` says (docs/anomaly.md#what-a-suspect-point-does).
  if (suspect !== undefined) return true;
  // A run skipped by the plan's own choice (busy: skip) is neither a success nor a failure.
  if (status === 'skipped') return notify.on === 'always';
  return notify.on === 'always' || (notify.on === 'success') === (status === 'succeeded');
}

export async function notifyRunEnd(
  notify: NotifySettings | undefined,
  facts: RunEndFacts,
  options: NotifyOptions,
): Promise<void> {
  if (notify === undefined || !wantsNotice(notify, facts.status, facts.suspect)) return;
  const { webhook, email } = notify;
  const sends: { readonly channel: string; readonly send: () => Promise<string> }[] = [];
  if (webhook) {
    const channel = `webhook ${urlOrigin(webhook.url)}`;
    sends.push({
      channel,
      send: async () => `${channel} (attempts: ${await sendWebhook(webhook, facts, options.env)})`,
    });
  }
  if (email) {
    const channel = `email to ${email.to.join(', ')}`;
    sends.push({
      channel,
      send: async () => {
        const { sendEmail } = await import('./send-email.js');
        await sendEmail(email, facts, options.env);
        return `${channel} via ${email.host}:${email.port}`;
      },
    });
  }
  const failures: string[] = [];
  await Promise.all(
    sends.map(async ({ channel, send }) => {
      try {
        options.reporter.emit({ type: 'info', message: `notified by ${await send()}` });
      } catch (error) {
        const message = `could not notify by ${channel}: ${(error as Error).message}`;
        options.reporter.emit({ type: 'warning', message });
        failures.push(message);
      }
    }),
  );
  if (failures.length > 0) await noteFailures(options, facts.runId, failures);
}

// Added to what the run's note already says (a copy's totals, a replica point).
async function noteFailures(
  { store, reporter }: NotifyOptions,
  runId: string,
  failures: readonly string[],
): Promise<void> {
  try {
    const note = (await store.getRun(runId))?.note;
    await store.noteRun(
      runId,
      [note, ...failures].filter((line) => line !== undefined && line !== null && line !== '').join('; '),
    );
  } catch (error) {
    reporter.emit({
      type: 'warning',
      message: `could not note the failed notification in run ${runId}: ${(error as Error).message}`,
    });
  }
}
