// Rules of a source the schema cannot express, its type's own (src/source/<type>-definition.ts);
// a kind's own warnings are its own (src/kinds).

import { isObject, valueAt } from '../raw-plan.js';
import type { CheckContext } from './check-context.js';
import { sourceDefinitionOf } from '../../source/source-types.js';

export function checkSourceRules(context: CheckContext): void {
  const source = valueAt(context.data, 'vm', 'source');
  if (!isObject(source)) return;
  sourceDefinitionOf(source.type)?.checks?.(source, context);
}
