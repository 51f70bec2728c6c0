// vitest's global setup file: after the whole suite, the port-slot locks its workers (stopped by
// a signal, so their exit handlers never ran) left in the temp dir are removed.
import { stopStartedLibvirtd } from './libvirt-guest.js';
import { sweepPortSlots } from './port-slots.js';

export function teardown(): void {
  sweepPortSlots();
  stopStartedLibvirtd();
}
