// One answer to a ranged GET, read off a kept-alive connection as its chunks come
// (plain-http-ranges.ts): a success is exactly the bytes asked, copied once into their buffer; an
// error carries the store's code as the SDK's errors do.

import type { ServedObject } from './bucket-blocks.js';

const HEAD_MOST = 64 * 1024;
const ERROR_BODY_MOST = 64 * 1024;

/** What the store answered, shaped as the SDK's errors are (s3Reason reads it). */
export class PlainHttpError extends Error {
  constructor(
    message: string,
    readonly Code: string | undefined,
    readonly $metadata: { readonly httpStatusCode?: number },
  ) {
    super(message);
    this.name = Code ?? 'Error';
  }
}

// Reads one answer off the connection's chunks: its head, then its body into `into`. Resolves with
// whether the connection may carry another request.
export function answerReader(
  object: ServedObject,
  start: number,
  end: number,
  into: Buffer,
  resolve: (keepAlive: boolean) => void,
  reject: (error: Error) => void,
): (chunk: Buffer) => void {
  let head = '';
  let status = 0;
  let http11 = false;
  let fields = new Map<string, string>();
  let body = -1;
  let got = 0;
  let errorBody = '';
  let done = false;
  const finish = (outcome: boolean | Error) => {
    done = true;
    if (outcome instanceof Error) reject(outcome);
    else resolve(outcome);
  };
  return (chunk) => {
    if (done) return finish(new Error('the store sent more than it said'));
    let at = 0;
    if (body < 0) {
      const before = head.length;
      head += chunk.toString('latin1');
      const headEnd = head.indexOf('\r\n\r\n');
      if (headEnd < 0) {
        if (head.length > HEAD_MOST) finish(new Error("the store's answer has no end to its head"));
        return;
      }
      at = headEnd + 4 - before;
      const lines = head.slice(0, headEnd).split('\r\n');
      const line = /^HTTP\/1\.([01]) ([0-9]{3})/.exec(lines[0]!);
      http11 = line?.[1] === '1';
      status = Number(line?.[2] ?? 0);
      fields = new Map(
        lines.slice(1).map((line) => {
          const colon = line.indexOf(':');
          return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()] as [string, string];
        }),
      );
      const length = fields.get('content-length');
      body = length !== undefined && /^[0-9]+$/.test(length) ? Number(length) : Number.POSITIVE_INFINITY;
      if (status >= 200 && status < 300) {
        const problem = rangeProblem(status, fields, object, start, end, body);
        if (problem !== undefined) return finish(new Error(`${object.key}: ${problem}`));
      }
    }
    const rest = chunk.subarray(at);
    if (status < 200 || status >= 300) {
      // Its body says why (<Code>); one of unknown length is read as far as it came (the connection goes).
      errorBody += rest.toString('latin1');
      if (errorBody.length >= Math.min(body, ERROR_BODY_MOST) || !Number.isFinite(body))
        finish(storeError(status, errorBody));
      return;
    }
    if (got + rest.length > body) return finish(new Error(`${object.key}: the store sent more than it said`));
    got += rest.copy(into, got);
    if (got === body) finish(http11 && !/\bclose\b/i.test(fields.get('connection') ?? ''));
  };
}

// A success must be exactly the bytes asked: their Content-Range and Content-Length.
function rangeProblem(
  status: number,
  fields: ReadonlyMap<string, string>,
  object: ServedObject,
  start: number,
  end: number,
  body: number,
): string | undefined {
  if (fields.has('transfer-encoding')) return `a ranged GET came back ${fields.get('transfer-encoding')}, not sized`;
  if (body !== end - start + 1) return `${Number.isFinite(body) ? body : 'unsized'} bytes came for ${start}-${end}`;
  if (status === 200) return start === 0 && end === object.size - 1 ? undefined : 'the store ignored the range';
  if (status !== 206) return `HTTP ${status} for a ranged GET`;
  const range = /^bytes ([0-9]+)-([0-9]+)\//.exec(fields.get('content-range') ?? '');
  if (range === null || Number(range[1]) !== start || Number(range[2]) !== end)
    return `the store sent ${fields.get('content-range') ?? 'no range'} for ${start}-${end}`;
  return undefined;
}

function storeError(status: number, text: string): PlainHttpError {
  const code =
    /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1] ??
    (status === 412 ? 'PreconditionFailed' : status === 404 ? 'NotFound' : undefined);
  return new PlainHttpError(`${code ?? 'HTTP'} (HTTP ${status})`, code, { httpStatusCode: status });
}
