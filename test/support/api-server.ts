// A real `sendense-run api` process for tests (docs/api.md): started on a claimed 127.0.0.1 port
// over HTTPS with the hub's own certificate (pinned as the only CA a request trusts), stopped by
// its PID. Tokens come from the real `token add`.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import { BIN, sendenseRun } from './sendense-cli.js';
import { claimPortRange } from './port-slots.js';

export interface ApiAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
  json<T = Record<string, unknown>>(): T;
}

export interface ApiRequest {
  readonly token?: string;
  readonly body?: unknown;
  /** Sent as it is (not JSON-encoded). */
  readonly raw?: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface ApiServer {
  readonly url: string;
  readonly pid: number;
  readonly port: number;
  /** Its certificate (the only CA a request trusts); undefined over plain HTTP. */
  readonly ca?: Buffer;
  /** What the server printed so far. */
  output(): string;
  request(method: string, route: string, options?: ApiRequest): Promise<ApiAnswer>;
  /** SIGTERM (a clean stop) and wait; its exit code. */
  stop(): Promise<number | null>;
  /** kill -9, and wait for it to be gone. */
  kill(): Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartApiOptions {
  readonly db: string;
  readonly plans: readonly string[];
  readonly plainHttp?: boolean;
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

const running = new Set<number>();
process.on('exit', () => {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

export async function startApiServer(options: StartApiOptions): Promise<ApiServer> {
  const [port] = claimPortRange(1);
  const args = [
    BIN,
    '--json',
    '--db',
    options.db,
    'api',
    ...options.plans,
    '--listen',
    `127.0.0.1:${port}`,
    ...(options.plainHttp ? ['--plain-http'] : []),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CI: '1', ...options.env },
  });
  running.add(child.pid!);
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      running.delete(child.pid!);
      resolve({ code, signal });
    }),
  );
  const listening = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const check = () => {
      const line = out.split('\n').find((text) => text.includes('"type":"listening"'));
      if (line) resolve(JSON.parse(line) as Record<string, unknown>);
    };
    child.stdout.on('data', check);
    void exited.then(({ code }) =>
      reject(new Error(`sendense-run api ended (exit ${code}) before listening:\n${out}`)),
    );
  });
  const ca = listening.certificate ? readFileSync(String(listening.certificate)) : undefined;
  const url = String(listening.url);
  const request = (method: string, route: string, given: ApiRequest = {}): Promise<ApiAnswer> =>
    new Promise((resolve, reject) => {
      const payload = given.raw ?? (given.body === undefined ? undefined : JSON.stringify(given.body));
      const headers: Record<string, string> = {
        ...(given.token ? { authorization: `Bearer ${given.token}` } : {}),
        ...(given.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(payload !== undefined ? { 'content-length': String(Buffer.byteLength(payload)) } : {}),
        ...given.headers,
      };
      const send = ca ? httpsRequest : httpRequest;
      const req = send(`${url}${route}`, { method, headers, ...(ca ? { ca } : {}) }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const text = body.toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text,
            json: <T>() => JSON.parse(text) as T,
          });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  return {
    url,
    pid: child.pid!,
    port,
    ...(ca ? { ca } : {}),
    output: () => out,
    request,
    async stop() {
      child.kill('SIGTERM');
      return (await exited).code;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    exited,
  };
}

/** `sendense-run token add NAME --role ROLE`: the secret, from its last line. */
export async function addApiToken(
  db: string,
  name: string,
  role: string,
  extra: readonly string[] = [],
): Promise<string> {
  const result = await sendenseRun(['--db', db, 'token', 'add', name, '--role', role, ...extra]);
  if (result.exitCode !== 0) throw new Error(`token add failed: ${result.stderr}`);
  return result.stdout.trim().split('\n').at(-1)!;
}

/** The API's state folder for a SQLite state database (docs/api.md#serving-it). */
export function apiDir(db: string): string {
  return path.join(path.dirname(db), 'api');
}

export interface SseEvent {
  readonly id?: string;
  readonly event?: string;
  readonly data: string;
}

/**
 * A task's server-sent events (GET /api/v1/tasks/ID/events) until its `end` event or `until`
 * returns true; every event in order.
 */
export function followTask(
  server: ApiServer,
  taskId: string,
  token: string,
  options: { readonly lastEventId?: number; readonly until?: (event: SseEvent) => boolean } = {},
): Promise<SseEvent[]> {
  const url = new URL(`${server.url}/api/v1/tasks/${taskId}/events`);
  const send = server.ca ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const headers = {
      authorization: `Bearer ${token}`,
      ...(options.lastEventId ? { 'last-event-id': String(options.lastEventId) } : {}),
    };
    const req = send(url, { headers, ...(server.ca ? { ca: server.ca } : {}) }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`events: HTTP ${res.statusCode}`));
        return;
      }
      let pending = '';
      res.on('data', (chunk: Buffer) => {
        pending += chunk.toString('utf8');
        let split: number;
        while ((split = pending.indexOf('\n\n')) >= 0) {
          const block = pending.slice(0, split);
          pending = pending.slice(split + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const colon = line.indexOf(': ');
            if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 2);
          }
          if (fields.data === undefined) continue;
          const event: SseEvent = {
            data: fields.data,
            ...(fields.id ? { id: fields.id } : {}),
            ...(fields.event ? { event: fields.event } : {}),
          };
          events.push(event);
          if (event.event === 'end' || options.until?.(event)) {
            req.destroy();
            resolve(events);
            return;
          }
        }
      });
      res.on('end', () => resolve(events));
      res.on('error', () => resolve(events));
    });
    req.on('error', (error) => (events.length > 0 ? resolve(events) : reject(error)));
    req.end();
  });
}
