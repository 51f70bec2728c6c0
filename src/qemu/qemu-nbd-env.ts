// The environment qemu-nbd runs with. glibc mmaps each request buffer of 128 KiB or more and
// unmaps it when the request is done, so every byte qemu-nbd moves lands in a freshly faulted
// page (2 GiB = 520k page faults, about half its CPU time: bench/README.md). Keeping buffers up
// to 32 MiB (the NBD maximum payload) in the heap and trimming it only above 64 MiB lets it
// reuse them. Settings the operator put in GLIBC_TUNABLES come last, so they win.

const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864';

export function qemuNbdEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const own = base.GLIBC_TUNABLES;
  return { ...base, GLIBC_TUNABLES: own ? `${MALLOC_TUNABLES}:${own}` : MALLOC_TUNABLES };
}
