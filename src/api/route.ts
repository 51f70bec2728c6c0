// One route of the API (docs/api.md): its method and path, the least role it needs, its schemas
// (typebox: JSON Schema, validated by fastify and published in the OpenAPI document) and what it
// does. Every route is in the table of ./routes/index.ts: the server, the OpenAPI document,
// docs/api.md and the role tests all read that one table.

import { gzipSync } from 'node:zlib';
import type { TSchema } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { HubConfig } from '../hub/hub-config.js';
import type { Store } from '../store/index.js';
import type { Caller } from './auth.js';
import type { PlanSet } from './plan-set.js';
import type { Role } from './roles.js';
import type { TaskManager } from './tasks.js';
import type { ApiFiles } from './files-port.js';

export type Method = 'GET' | 'POST' | 'DELETE';

export interface ApiContext {
  readonly store: Store;
  readonly dbPath: string;
  readonly hubConfigPath?: string;
  readonly hub: HubConfig;
  readonly plans: PlanSet;
  readonly tasks: TaskManager;
  readonly files: ApiFiles;
}

export interface RouteCall {
  readonly caller: Caller;
  readonly params: Record<string, string>;
  readonly query: Record<string, unknown>;
  readonly body: unknown;
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  readonly api: ApiContext;
  /** What the audit record names as this call's target (a plan, a point…). */
  target(text: string): void;
  /** The task this call started, for the audit record. */
  startedTask(id: string): void;
  /** Counts this answer as one of its token's downloads until it ends (429 past the limit, ../open-responses.ts). */
  startDownload(): void;
}

export interface RouteDef {
  readonly method: Method;
  readonly url: string;
  readonly role: Role;
  readonly summary: string;
  readonly tag: string;
  /** The audit record's action; every route that changes something or reads guest data has one. */
  readonly action?: string;
  readonly params?: TSchema;
  readonly querystring?: TSchema;
  readonly body?: TSchema;
  /** The 200/202 answer's schema, for the OpenAPI document (not enforced). */
  readonly response?: TSchema;
  /** 202: it starts a task (see docs/api.md#tasks). */
  readonly startsTask?: boolean;
  /** An alias of the old system's route onto this one (docs/api.md#old-system-routes). */
  readonly aliasOf?: string;
  /** What it answers is not JSON (a file, an archive, Prometheus text, server-sent events). */
  readonly produces?: string;
  /**
   * The role these params need when it is above `role` (a backup plan's run needs operator where a
   * restore plan's needs restore): a refusal names the role that would be let in.
   */
  neededRole?(params: Readonly<Record<string, string>>, api: ApiContext): Promise<Role | undefined>;
  handle(call: RouteCall): Promise<unknown>;
}

/** Answered as it is: the handler wrote the reply itself (a stream, a file). */
export const REPLIED = Symbol('replied');

/**
 * An answer already serialized as JSON: sent as it is. A kept listing (src/api/listing-cache.ts)
 * is sent many times, so its bytes and their gzip are made once, on first use.
 */
export class JsonText {
  private encoded: Buffer | undefined;
  private compressed: Buffer | undefined;
  constructor(readonly text: string) {}

  get bytes(): Buffer {
    return (this.encoded ??= Buffer.from(this.text, 'utf8'));
  }

  get gzipped(): Buffer {
    return (this.compressed ??= gzipSync(this.bytes, { level: 1 }));
  }
}
