// A plan that backs up one qcow2 into a repository, as the engine and local-full benches run it (the
// hub is the node), or ssh-incremental (`node`: { host, port, user, identityFile, knownHosts }).
import { writeFileSync } from 'node:fs';

// A port range of 10 the benches of one run are unlikely to share.
export const benchPorts = () => {
  const base = 30000 + Math.floor(Math.random() * 200) * 10;
  return `${base}-${base + 9}`;
};

export function writeLocalPlan(file, { name, kind = 'incremental', source, repository, ports, node }) {
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
      ...(node === undefined ? [] : ['node:', ...Object.entries(node).map(([key, value]) => `  ${key}: ${value}`)]),
      '',
    ].join('\n'),
  );
  return file;
}
