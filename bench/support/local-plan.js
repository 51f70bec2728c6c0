// A plan that backs up one local qcow2 (the hub is the node) into a repository, as the engine and
// local-full benches run it.
import { writeFileSync } from 'node:fs';

// A port range of 10 the benches of one run are unlikely to share.
export const benchPorts = () => {
  const base = 30000 + Math.floor(Math.random() * 200) * 10;
  return `${base}-${base + 9}`;
};

export function writeLocalPlan(file, { name, kind = 'incremental', source, repository, ports }) {
  writeFileSync(
    file,
    [
      'version: 1',
      `kind: ${kind}`,
      `name: ${name}`,
      'vm:',
      '  name: benchvm',
      '  source:',
      '    type: qemu',
      '    disks:',
      `      - { key: 2000, path: ${source} }`,
      `repository: { path: ${repository} }`,
      `nbd: { ports: ${ports} }`,
      '',
    ].join('\n'),
  );
  return file;
}
