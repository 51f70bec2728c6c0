// The replica's domain: as given, else <vm.name>-replica when there is XML to define it from (a
// libvirt source's, or the plan's definition), else none. The plan builder and the checks use it.

export function replicaDomain(
  replica: { readonly domain?: unknown; readonly definition?: unknown },
  vmName: string,
  sourceType: unknown,
): string | undefined {
  if (typeof replica.domain === 'string') return replica.domain;
  if (sourceType !== 'libvirt' && replica.definition === undefined) return undefined;
  return `${vmName}-replica`;
}
