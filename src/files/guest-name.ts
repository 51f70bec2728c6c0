// Guest file names are bytes: most are UTF-8, a hostile or old guest's may not be, and any may
// hold a newline or a terminal escape. Shown to people, each is one line that says which bytes.

import { isUtf8 } from 'node:buffer';

// UTF-8 as is; backslash, \n, \t, \r as C escapes; other control characters and bytes that are not UTF-8 as \xNN.
export function escapeGuestName(bytes: Buffer): string {
  let text = '';
  let at = 0;
  while (at < bytes.length) {
    const length = sequenceLength(bytes, at);
    if (length === 0) {
      text += hex(bytes[at]);
      at += 1;
      continue;
    }
    const sequence = bytes.subarray(at, at + length);
    const code = sequence.toString('utf8').codePointAt(0) ?? 0;
    if (code === 0x5c) text += '\\\\';
    else if (code in C_ESCAPES) text += C_ESCAPES[code];
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) text += [...sequence].map(hex).join('');
    else text += sequence.toString('utf8');
    at += length;
  }
  return text;
}

// The name as a string: itself when it is UTF-8, else escaped (and the caller keeps the bytes).
export function guestNameText(bytes: Buffer): string {
  return isUtf8(bytes) ? bytes.toString('utf8') : escapeGuestName(bytes);
}

const C_ESCAPES: Readonly<Record<number, string>> = { 0x0a: '\\n', 0x09: '\\t', 0x0d: '\\r' };

function hex(byte: number): string {
  return `\\x${byte.toString(16).padStart(2, '0')}`;
}

// Bytes of the valid UTF-8 sequence at `at`, or 0 when the byte there does not start one.
function sequenceLength(bytes: Buffer, at: number): number {
  const lead = bytes[at];
  const length =
    lead < 0x80
      ? 1
      : lead >= 0xc2 && lead <= 0xdf
        ? 2
        : lead >= 0xe0 && lead <= 0xef
          ? 3
          : lead >= 0xf0 && lead <= 0xf4
            ? 4
            : 0;
  if (length <= 1 || at + length > bytes.length) return length === 1 ? 1 : 0;
  return isUtf8(bytes.subarray(at, at + length)) ? length : 0;
}
