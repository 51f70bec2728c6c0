// A JSON POST of the run's end to the plan's webhook (docs/notifications.md#webhook): certificates
// verified (fetch's default), no redirects followed, retried when the far side may recover.

import { setTimeout as sleep } from 'node:timers/promises';
import type { WebhookSettings } from '../plan/types.js';
import type { RunEndFacts } from './run-end-facts.js';
import { readSecret } from './secret-value.js';

const RETRY_DELAYS_MS = [1000, 2000];

// Resolves with the number of attempts it took; rejects with the last attempt's reason.
export async function sendWebhook(
  webhook: WebhookSettings,
  facts: RunEndFacts,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'sendense-run' };
  for (const [name, source] of Object.entries(webhook.headers)) {
    headers[name] = await readSecret(source, env).catch((error: Error) => {
      throw new Error(`header ${name}: ${error.message}`);
    });
  }
  const body = JSON.stringify(facts);
  for (let attempt = 1; ; attempt++) {
    const outcome = await postOnce(webhook, headers, body);
    if (outcome.ok) return attempt;
    if (!outcome.retry || attempt > webhook.retries)
      throw new Error(attempt > 1 ? `${outcome.reason} (after ${attempt} attempts)` : outcome.reason);
    await sleep(RETRY_DELAYS_MS[Math.min(attempt - 1, RETRY_DELAYS_MS.length - 1)]);
  }
}

type Attempt = { readonly ok: true } | { readonly ok: false; readonly retry: boolean; readonly reason: string };

async function postOnce(webhook: WebhookSettings, headers: Record<string, string>, body: string): Promise<Attempt> {
  try {
    const response = await fetch(webhook.url, {
      method: 'POST',
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(webhook.timeout),
    });
    await response.arrayBuffer().catch(() => undefined);
    if (response.status >= 200 && response.status < 300) return { ok: true };
    // 5xx and 429 may pass on a later try; another 4xx (or a redirect) will not.
    return {
      ok: false,
      retry: response.status >= 500 || response.status === 429,
      reason: `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`,
    };
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'TimeoutError')
      return { ok: false, retry: true, reason: `no answer within ${webhook.timeout / 1000}s` };
    return { ok: false, retry: true, reason: networkReason(error) };
  }
}

// fetch says "fetch failed"; the reason is its cause (ECONNREFUSED, a certificate error…).
function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (error as Error).message;
}
