// Safe reads of plan data before it is known to be valid: checks run even when the schema
// found problems, so they look before they touch.

export type RawObject = Readonly<Record<string, unknown>>;

export function isObject(value: unknown): value is RawObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function valueAt(data: unknown, ...path: readonly (string | number)[]): unknown {
  let current = data;
  for (const segment of path) {
    if (typeof segment === 'number') {
      if (!Array.isArray(current)) return undefined;
      current = current[segment];
    } else {
      if (!isObject(current)) return undefined;
      current = current[segment];
    }
  }
  return current;
}

export function stringAt(data: unknown, ...path: readonly (string | number)[]): string | undefined {
  const value = valueAt(data, ...path);
  return typeof value === 'string' ? value : undefined;
}

export function listAt(data: unknown, ...path: readonly (string | number)[]): readonly unknown[] {
  const value = valueAt(data, ...path);
  return Array.isArray(value) ? value : [];
}

// A short, quoted rendering of a user value for messages.
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return `'${text.length > 60 ? `${text.slice(0, 57)}...` : text}'`;
}
