// A program's stdin fed from a stream over an SSH channel: each chunk written as the channel's
// window takes it (backpressure), the channel ended after the last one. It stops at once when the
// program is gone (its channel closed: a full disk, say) or the link is lost.

import type { ClientChannel } from 'ssh2';

// Resolves once every chunk is written and stdin ended, or once `stop` aborts (nothing more is written).
export async function pumpInto(
  channel: ClientChannel,
  source: AsyncIterable<Uint8Array>,
  stop: AbortSignal,
): Promise<void> {
  const stopped = new Promise<void>((resolve) => {
    if (stop.aborted) resolve();
    else stop.addEventListener('abort', () => resolve(), { once: true });
  });
  for await (const chunk of source) {
    if (stop.aborted) return;
    if (channel.write(chunk)) continue;
    let onDrain = (): void => {};
    const drained = new Promise<void>((resolve) => {
      onDrain = resolve;
      channel.once('drain', onDrain);
    });
    await Promise.race([drained, stopped]);
    channel.removeListener('drain', onDrain);
    if (stop.aborted) return;
  }
  channel.end();
}
