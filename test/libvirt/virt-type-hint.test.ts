// A domain libvirt will not define for its virt type gets, after libvirt's own words, what the user
// can do (src/libvirt/virsh.ts virtTypeHint). libvirt's lines are as virsh 9.0 printed them on a
// host without /dev/kvm (`virsh define` of a domain of type kvm); only that refusal gets the hint.

import { describe, expect, it } from 'vitest';
import { virshMessage, virtTypeHint } from '../../src/libvirt/virsh.js';

const refused = {
  exitCode: 1,
  stdout: '',
  stderr:
    "error: Failed to define domain from /dev/stdin\nerror: unsupported configuration: Emulator '/usr/bin/qemu-system-x86_64' does not support virt type 'kvm'\n",
};

describe('a definition refused for its virt type', () => {
  it('says that this host offers no KVM and what a plan can say instead, after libvirt', () => {
    const message = virshMessage(refused);
    expect(`${message}${virtTypeHint(message)}`).toBe(
      "Failed to define domain from /dev/stdin: unsupported configuration: Emulator '/usr/bin/qemu-system-x86_64' does not support virt type 'kvm'" +
        " (this host's libvirt offers no KVM: no usable /dev/kvm. A definition the plan gives can say virtualization: qemu, software emulation, much slower; docs/plan-reference.md)",
    );
  });

  it('adds nothing to any other refusal', () => {
    for (const stderr of [
      "error: failed to get domain 'x'\nerror: Domain not found: no domain with matching name 'x'\n",
      "error: unsupported configuration: Emulator '/usr/bin/qemu-system-x86_64' does not support virt type 'hvf'\n",
    ])
      expect(virtTypeHint(virshMessage({ exitCode: 1, stdout: '', stderr }))).toBe('');
  });
});
