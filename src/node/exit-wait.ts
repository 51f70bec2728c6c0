// Waiting for a process to end, with a deadline: the common piece of every stop(grace) sequence.

export type ExitStatus = { readonly exitCode: number | null; readonly signal: string | null };

// Resolves true when `exited` settles within ms, false on the deadline (the timer never lingers).
export async function exitedWithin(exited: Promise<ExitStatus>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, ms));
  });
  try {
    return await Promise.race([exited.then(() => true as const), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export const DEFAULT_STOP_GRACE_MS = 5000;
