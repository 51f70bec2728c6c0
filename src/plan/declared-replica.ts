// Where a replicate plan keeps its replica, as its file writes it: replica.path on the replica
// node, so that plans validated together can be checked for two plans on one replica
// (docs/replication.md#one-replica-per-plan). Read from the raw plan, so a plan with errors still
// takes part.

import { kindNamed } from '../kinds/index.js';

export interface DeclaredReplica {
  /** The replica node as written ('this host' without replica.node). */
  readonly host: string;
  /** replica.path, {key} and all. */
  readonly template: string;
  /** For messages: "replica.path /images/pg-{key}.qcow2 on kvm2". */
  readonly what: string;
}

export function declaredReplica(data: unknown): DeclaredReplica | undefined {
  const plan = data as {
    kind?: unknown;
    replica?: { path?: unknown; node?: { host?: unknown; port?: unknown } };
  } | null;
  const template = plan?.replica?.path;
  if (kindNamed(plan?.kind)?.pointsOn !== 'replica' || typeof template !== 'string' || template === '')
    return undefined;
  const node = plan?.replica?.node;
  const host =
    typeof node?.host === 'string'
      ? `${node.host}${typeof node.port === 'number' && node.port !== 22 ? `:${node.port}` : ''}`
      : 'this host';
  return { host, template, what: `replica.path ${template} on ${host}` };
}

// Whether two replicas can name one file: the same host and a path both templates give for some disk key.
export function replicasOverlap(a: DeclaredReplica, b: DeclaredReplica): boolean {
  if (a.host !== b.host) return false;
  return (
    pattern(a.template).test(b.template.replaceAll('{key}', '0')) ||
    pattern(b.template).test(a.template.replaceAll('{key}', '0'))
  );
}

// The files a template names, as a regular expression ({key}: any disk key).
function pattern(template: string): RegExp {
  const parts = template.split('{key}').map((part) => part.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
  return new RegExp(`^${parts.join('\\d+')}$`);
}
