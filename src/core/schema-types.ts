// The pieces the core's schemas share (docs/api.md#one-implementation): a value or null, and the
// store's closed sets of words, declared once so the CLI's --json and the API's answers agree.

import { Type, type TSchema } from '@sinclair/typebox';

/** The value, or null when it is not known (not recorded, never happened). */
export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

export const BackupTypeSchema = Type.Union([Type.Literal('full'), Type.Literal('incremental')]);

export const BackupStatusSchema = Type.Union([
  Type.Literal('running'),
  Type.Literal('complete'),
  Type.Literal('failed'),
  Type.Literal('damaged'),
]);
