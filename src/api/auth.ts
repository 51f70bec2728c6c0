// Who is asking (docs/api.md#tokens-and-roles): `Authorization: Bearer SECRET`, or a browser
// session made by logging in with a token (an HttpOnly, Secure, SameSite=Strict cookie, plus a
// CSRF token every state-changing request must carry in X-CSRF-Token). A session holds no right
// of its own: each request looks its token up again, so a removed or expired token ends it. A
// token holds at most SESSIONS_PER_TOKEN sessions and the hub SESSIONS_PER_HUB (the oldest ends).
// The right secret always logs in at once; only failures are slowed (./login-failures.ts). Bearer
// requests are not limited (a 256-bit secret cannot be guessed).

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/index.js';
import type { ApiToken } from '../store/api-records.js';
import { ApiError } from './api-error.js';
import { isRole, type Role } from './roles.js';
import { LoginFailures } from './login-failures.js';
import { secretHash } from './token-secret.js';

export const SESSION_COOKIE = 'sendense_session';
export const CSRF_HEADER = 'x-csrf-token';

export interface Caller {
  readonly token: string;
  readonly role: Role;
  readonly via: 'bearer' | 'session';
  readonly address: string;
}

interface Session {
  readonly hash: string;
  readonly csrf: string;
  readonly created: number;
  lastSeen: number;
}

export interface AuthRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly address: string;
}

const SESSION_IDLE_MS = 60 * 60_000;
const SESSION_MAX_MS = 12 * 60 * 60_000;
// Live sessions a token may hold, and the hub: a login past either ends the oldest.
export const SESSIONS_PER_TOKEN = 20;
export const SESSIONS_PER_HUB = 200;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class Authenticator {
  private readonly sessions = new Map<string, Session>();
  private readonly failures: LoginFailures;

  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {
    this.failures = new LoginFailures(now);
  }

  /** The caller, or 401 (no, wrong, expired or removed token), 403 (a session request without its CSRF token), 429. */
  async caller(request: AuthRequest): Promise<Caller> {
    const authorization = header(request, 'authorization');
    if (authorization !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (match === null) throw new ApiError('unauthorized', 'the Authorization header must be "Bearer SECRET"');
      const token = await this.tokenBySecretHash(secretHash(match[1]));
      if (token === undefined) throw new ApiError('unauthorized', 'no such token, or it expired or was removed');
      return { token: token.name, role: token.role as Role, via: 'bearer', address: request.address };
    }
    const sessionId = cookie(request, SESSION_COOKIE);
    if (sessionId === undefined)
      throw new ApiError('unauthorized', 'no token: send "Authorization: Bearer SECRET" or log in');
    const session = this.sessions.get(sessionId);
    const now = this.now();
    if (session === undefined || now - session.lastSeen > SESSION_IDLE_MS || now - session.created > SESSION_MAX_MS) {
      this.sessions.delete(sessionId);
      throw new ApiError('unauthorized', 'the session has ended: log in again');
    }
    const token = await this.tokenBySecretHash(session.hash);
    if (token === undefined) {
      this.sessions.delete(sessionId);
      throw new ApiError('unauthorized', "the session's token expired or was removed: log in again");
    }
    if (!SAFE_METHODS.has(request.method.toUpperCase())) {
      const given = header(request, CSRF_HEADER) ?? '';
      if (!sameText(given, session.csrf))
        throw new ApiError(
          'forbidden',
          `a ${request.method} with a session needs its CSRF token in the ${CSRF_HEADER} header`,
        );
    }
    session.lastSeen = now;
    return { token: token.name, role: token.role as Role, via: 'session', address: request.address };
  }

  /** A new session for a token's secret: its cookie value and CSRF token. */
  async login(
    secret: string,
    address: string,
  ): Promise<{ readonly sessionId: string; readonly csrf: string; readonly token: ApiToken }> {
    // The secret first: the right one logs in whatever failures came before it.
    const hash = secretHash(secret);
    const token = await this.tokenBySecretHash(hash);
    if (token === undefined) throw await this.failures.refuse(address);
    this.sweep();
    this.makeRoom(hash);
    const sessionId = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const now = this.now();
    this.sessions.set(sessionId, { hash, csrf, created: now, lastSeen: now });
    return { sessionId, csrf, token };
  }

  // Ends the oldest sessions of this token, and of the hub, so the new one fits under both caps.
  private makeRoom(hash: string): void {
    const ofToken = [...this.sessions].filter(([, session]) => session.hash === hash);
    for (const [id] of ofToken.slice(0, Math.max(0, ofToken.length - SESSIONS_PER_TOKEN + 1))) this.sessions.delete(id);
    const oldestFirst = [...this.sessions].sort(([, a], [, b]) => a.lastSeen - b.lastSeen);
    for (const [id] of oldestFirst.slice(0, Math.max(0, oldestFirst.length - SESSIONS_PER_HUB + 1)))
      this.sessions.delete(id);
  }

  /** The session's CSRF token (a reloaded console asks for it again), or undefined. */
  csrfOf(request: AuthRequest): string | undefined {
    const sessionId = cookie(request, SESSION_COOKIE);
    return sessionId === undefined ? undefined : this.sessions.get(sessionId)?.csrf;
  }

  logout(request: AuthRequest): void {
    const sessionId = cookie(request, SESSION_COOKIE);
    if (sessionId !== undefined) this.sessions.delete(sessionId);
  }

  private async tokenBySecretHash(hash: string): Promise<ApiToken | undefined> {
    const token = await this.store.api.tokenByHash(hash);
    if (token === undefined || !isRole(token.role)) return undefined;
    if (token.expiresAt !== null && Date.parse(token.expiresAt) <= this.now()) return undefined;
    return token;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, session] of this.sessions)
      if (now - session.lastSeen > SESSION_IDLE_MS || now - session.created > SESSION_MAX_MS) this.sessions.delete(id);
  }
}

function header(request: AuthRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function cookie(request: AuthRequest, name: string): string | undefined {
  const text = header(request, 'cookie');
  if (text === undefined) return undefined;
  for (const part of text.split(';')) {
    const equals = part.indexOf('=');
    if (equals > 0 && part.slice(0, equals).trim() === name) return part.slice(equals + 1).trim();
  }
  return undefined;
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function sessionCookie(sessionId: string): string {
  return `${SESSION_COOKIE}=${sessionId}; HttpOnly; Secure; SameSite=Strict; Path=/`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0`;
}
