// What `sendense-run api` says as it runs (docs/api.md#serving-it): its lines' shapes for --json,
// and how one is said: a JSON line, or a line for people (errors only, with --quiet).

import { printJson } from '../output/json-output.js';
import type { CliContext } from './context.js';

export type ApiLine =
  | {
      readonly type: 'fingerprint';
      readonly sha256: string;
      readonly certificate: string;
      readonly selfSigned: boolean;
      readonly created: boolean;
    }
  | ApiEvent;

// What the server says as it runs: a line for people (`message`) with its level and facts.
export type ApiEvent = { readonly level: 'info' | 'warning' | 'error'; readonly message: string } & (
  | { readonly type: 'lost-tasks'; readonly count: number }
  | { readonly type: 'other-tasks'; readonly count: number }
  | {
      readonly type: 'listening';
      readonly url: string;
      readonly fingerprint?: string;
      readonly certificate?: string;
      readonly selfSigned?: boolean;
      readonly plans: number;
    }
  | { readonly type: 'invalid' }
  | { readonly type: 'tightened'; readonly folder: string; readonly was: string }
  | { readonly type: 'reloading' }
  | { readonly type: 'stopped' }
  | { readonly type: 'schedule-ended' }
  | { readonly type: 'stopping'; readonly signal?: string }
);

export type SayApiEvent = (event: ApiEvent) => void;

export function apiEventsTo(cli: CliContext): SayApiEvent {
  return (event) => {
    if (cli.json) printJson<ApiLine>(cli, event);
    else if (!cli.quiet || event.level === 'error')
      (event.level === 'error' ? cli.stderr : cli.stdout).write(`sendense-run api: ${event.message}\n`);
  };
}
