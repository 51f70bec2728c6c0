// The replica's domain: as given, else <vm.name>-replica when there is XML to define it from (a
// source that is a libvirt domain, `sourceHasDomain`, or the plan's definition), else none. The plan builder and the checks use it.

export function replicaDomain(
  replica: { readonly domain?: unknown; readonly definition?: unknown },
  vmName: string,
  sourceHasDomain: boolean,
): string | undefined {
  if (typeof replica.domain === 'string') return replica.domain;
  if (!sourceHasDomain && replica.definition === undefined) return undefined;
  return `${vmName}-replica`;
}
