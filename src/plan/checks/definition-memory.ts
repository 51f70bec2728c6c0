// A domain definition's memory (recover.to.definition, replica.definition) is a size the schema's
// pattern cannot fully judge.

import { parseMemory } from '../../format/byte-size.js';
import { hasEnvRef } from '../env-refs.js';
import { stringAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';

export function checkDefinitionMemory(
  { data, issues }: Pick<CheckContext, 'data' | 'issues'>,
  definition: readonly string[],
): void {
  const memory = stringAt(data, ...definition, 'memory');
  if (memory !== undefined && !hasEnvRef(memory) && !(parseMemory(memory) ?? 0)) {
    issues.error(
      [...definition, 'memory'],
      `${definition.join('.')}.memory: must be a size like 2GiB or 512MiB (got '${memory}')`,
    );
  }
}
