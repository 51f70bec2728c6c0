// Calls to the hub's API (docs/api.md) from the console: the session cookie goes by itself, the
// CSRF token rides on every state-changing request, and a refusal becomes an ApiRefusal carrying
// the API's own message, which the screens show as it is.

import type { ApiErrorBody } from './api-types.js';
import { PATHS, urlOf, type PathName } from './api-paths.js';

export class ApiRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

let csrf: string | undefined;
let onUnauthorized: () => void = () => {};

export function useCsrf(token: string | undefined): void {
  csrf = token;
}

/** Told when a call answers 401: the session has ended, the console shows the login again. */
export function whenUnauthorized(callback: () => void): void {
  onUnauthorized = callback;
}

export interface Call {
  readonly params?: Readonly<Record<string, string>>;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
}

export async function call<T>(name: PathName, options: Call = {}): Promise<T> {
  return (await callAnswer<T>(name, options)).data;
}

/** An answer with its status and, when it said one, its Retry-After in seconds (a 202 to ask again). */
export interface Answer<T> {
  readonly data: T;
  readonly status: number;
  readonly retryAfter?: number;
}

export async function callAnswer<T>(name: PathName, options: Call = {}): Promise<Answer<T>> {
  const method = PATHS[name].split(' ')[0];
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrf !== undefined) headers['x-csrf-token'] = csrf;
  let response: Response;
  try {
    response = await fetch(urlOf(name, options.params, options.query), {
      method,
      headers,
      credentials: 'same-origin',
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
  } catch (error) {
    throw new ApiRefusal(0, 'network', `the hub did not answer: ${(error as Error).message}`);
  }
  const text = await response.text();
  let data: unknown;
  try {
    data = text === '' ? undefined : JSON.parse(text);
  } catch {
    data = undefined;
  }
  if (!response.ok) {
    const body = data as Partial<ApiErrorBody> | undefined;
    if (response.status === 401 && name !== 'login') onUnauthorized();
    throw new ApiRefusal(
      response.status,
      body?.error ?? 'error',
      body?.message ?? `${response.status} ${response.statusText}`,
      body?.field,
    );
  }
  const retryAfter = Number(response.headers.get('retry-after'));
  return {
    data: data as T,
    status: response.status,
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfter } : {}),
  };
}
