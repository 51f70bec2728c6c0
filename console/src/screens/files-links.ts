// The addresses of the Files screen and of the API's downloads: a point's disk and a path of it.

// A Files address: no disk is the point's first (the API's default), no path its filesystems.
export function filesHref(point: string, disk: string, path: string): string {
  const query = new URLSearchParams({ ...(disk ? { disk } : {}), ...(path ? { path } : {}) }).toString();
  return `/points/${encodeURIComponent(point)}/files${query ? `?${query}` : ''}`;
}

// The API's query for a disk and a path of it (each only when given).
export function onDisk(disk: string, query: Readonly<Record<string, string>>): Record<string, string> {
  return { ...(disk ? { disk } : {}), ...query };
}
