// The hub's control lines on stdin after the request (src/wire/transfer-control.ts): each applied
// as it arrives; one this transfer does not know is said on stderr and skipped.

import { parseControlLine, type ControlLine } from '../../src/wire/index.js';

export function followControlLines(
  input: NodeJS.ReadableStream,
  pending: string,
  apply: (control: ControlLine) => void,
  warn: (text: string) => void,
): void {
  let text = pending;
  const take = (): void => {
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n')) {
      const line = text.slice(0, end).trim();
      text = text.slice(end + 1);
      if (line === '') continue;
      const control = parseControlLine(line);
      if (control === undefined)
        warn(`sendense-transfer: ignored a control line it does not know: ${line.slice(0, 200)}`);
      else apply(control);
    }
  };
  take();
  input.on('data', (chunk: Buffer) => {
    text += chunk.toString('utf8');
    take();
  });
  input.resume();
}
