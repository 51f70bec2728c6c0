// The environment qemu-nbd runs with. By default glibc gives request buffers of 128 KiB or
// more back to the kernel when a request is done (munmap, heap trim), so every byte qemu-nbd
// moves lands in a freshly faulted page (2 GiB = 520k page faults, about half its CPU time: bench/README.md). Keeping buffers up
// to 32 MiB (the NBD maximum payload) in the heap, and trimming it only above 128 MiB (more
// than the node transfer keeps in flight per disk), lets it reuse them. Settings the operator
// put in GLIBC_TUNABLES come last, so they win.

const MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728';

export function qemuNbdEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const own = base.GLIBC_TUNABLES;
  return { ...base, GLIBC_TUNABLES: own ? `${MALLOC_TUNABLES}:${own}` : MALLOC_TUNABLES };
}
