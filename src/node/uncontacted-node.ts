// A remote node as --dry-run knows it: named, never contacted (any use of it is a bug).

import type { NodeSpec } from '../plan/types.js';
import type { NodeHost } from './node.js';
import { describeNode } from './node-description.js';

export function uncontactedNode(spec: NodeSpec): NodeHost {
  const refuse = (): never => {
    throw new Error(`a dry run does not contact the node ${describeNode(spec)}`);
  };
  return Object.freeze({
    description: describeNode(spec),
    id: describeNode(spec),
    isLocal: false,
    exec: async () => refuse(),
    spawn: refuse,
    forwardPorts: async () => refuse(),
    forwardSockets: async () => refuse(),
    connectUnixSocket: async () => refuse(),
    transferCommand: async () => refuse(),
    close: async () => {},
  });
}
