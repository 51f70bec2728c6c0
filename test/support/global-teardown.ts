// vitest's global setup file: after the whole suite, the port-slot locks its workers (stopped by
// a signal, so their exit handlers never ran) left in the temp dir are removed, so are the libvirt
// test domains whose worker is gone, and the libvirtd/virtlogd the suite started are stopped by PID.
import { stopStartedLibvirtd } from './libvirt-guest.js';
import { sweepPortSlots } from './port-slots.js';

export function teardown(): void {
  sweepPortSlots();
  stopStartedLibvirtd();
}
