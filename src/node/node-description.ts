// How a node is named in messages: "sendense@10.0.100.231:22" (this host is "this host").

import type { NodeSpec } from '../plan/types.js';

export function describeNode(spec: NodeSpec): string {
  return `${spec.user}@${spec.host}:${spec.port}`;
}
