// What the hub tells a running node transfer (runners/README.md, "Command line"): one JSON object
// per line on its stdin, after the request. Today only the rate: {"rate": BYTES_PER_SECOND}, or
// {"rate": null} for no limit (docs/bandwidth.md).

export interface ControlLine {
  /** Bytes per second from now on; null = not limited. */
  readonly rate: number | null;
}

export function formatControlLine(control: ControlLine): string {
  return `${JSON.stringify({ rate: control.rate })}\n`;
}

// Undefined: not a control line this transfer knows (it says so on stderr and goes on).
export function parseControlLine(text: string): ControlLine | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof json !== 'object' || json === null || !('rate' in json)) return undefined;
  const { rate } = json as { rate: unknown };
  if (rate === null) return { rate: null };
  return typeof rate === 'number' && Number.isSafeInteger(rate) && rate >= 1 ? { rate } : undefined;
}
