// QEMU's own copy of a bitmap's dirty extents, the floor of any copy through QEMU: one
// qemu-storage-daemon opens the source (read-only) and the target, runs `blockdev-backup
// sync=bitmap` from one to the other, and quits. The source's persistent bitmap is read-only
// there, so the job takes a non-persistent copy of it (`bitmap-mode: never` leaves both as they
// are). `x-perf.max-chunk`: 4 MiB requests instead of the cluster size, the job's fastest setting
// here (bench/README.md#local-full).
import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { trackChild } from './scratch.js';

const MAX_CHUNK = 4 * 1024 * 1024;

/** Copies the extents dirty in `bitmap` of the qcow2 `source` into the qcow2 `target`; seconds from spawn to exit. */
export async function blockJobCopy({ source, target, bitmap, dir }) {
  const socket = join(dir, 'qsd-qmp.sock');
  rmSync(socket, { force: true });
  const started = process.hrtime.bigint();
  const child = trackChild(
    spawn(
      'qemu-storage-daemon',
      [
        '--chardev',
        `socket,path=${socket},server=on,wait=off,id=qmp`,
        '--monitor',
        'chardev=qmp',
        '--blockdev',
        `driver=file,filename=${source},node-name=source-file,read-only=on`,
        '--blockdev',
        'driver=qcow2,file=source-file,node-name=source,read-only=on',
        '--blockdev',
        `driver=file,filename=${target},node-name=target-file`,
        '--blockdev',
        'driver=qcow2,file=target-file,node-name=target',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    ),
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const qmp = await connectQmp(socket, exited, () => stderr);
    await qmp.command('qmp_capabilities');
    await qmp.command('block-dirty-bitmap-add', { node: 'source', name: 'copy', persistent: false });
    await qmp.command('block-dirty-bitmap-merge', { node: 'source', target: 'copy', bitmaps: [bitmap] });
    const completed = qmp.event('BLOCK_JOB_COMPLETED');
    await qmp.command('blockdev-backup', {
      'job-id': 'copy',
      device: 'source',
      target: 'target',
      sync: 'bitmap',
      bitmap: 'copy',
      'bitmap-mode': 'never',
      'x-perf': { 'max-chunk': MAX_CHUNK },
    });
    const { data } = await completed;
    if (data.error !== undefined) throw new Error(`blockdev-backup failed: ${data.error}`);
    // It may close the monitor before answering: its exit is the answer.
    await Promise.race([qmp.command('quit'), exited]);
    const code = await exited;
    if (code !== 0) throw new Error(`qemu-storage-daemon exited ${code}: ${stderr}`);
    return { seconds: Number(process.hrtime.bigint() - started) / 1e9, bytes: data.len };
  } finally {
    child.kill('SIGKILL');
    rmSync(socket, { force: true });
  }
}

// The monitor once its socket takes connections: commands in turn, events waited for by name.
async function connectQmp(socket, exited, stderr) {
  let died = false;
  void exited.then(() => (died = true));
  for (;;) {
    if (died) throw new Error(`qemu-storage-daemon exited before its monitor answered: ${stderr()}`);
    const connection = await new Promise((resolve) => {
      const attempt = createConnection(socket);
      attempt.once('connect', () => resolve(attempt));
      attempt.once('error', () => resolve(undefined));
    });
    if (connection !== undefined) return qmpOn(connection);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

function qmpOn(connection) {
  const waiting = [];
  let text = '';
  connection.setEncoding('utf8');
  connection.on('data', (chunk) => {
    text += chunk;
    for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n')) {
      const message = JSON.parse(text.slice(0, end));
      text = text.slice(end + 1);
      const index = waiting.findIndex((wait) => wait.wants(message));
      if (index >= 0) waiting.splice(index, 1)[0].resolve(message);
    }
  });
  const wait = (wants) => new Promise((resolve) => waiting.push({ wants, resolve }));
  const greeted = wait((message) => 'QMP' in message);
  return {
    async command(execute, args) {
      await greeted;
      const answer = wait((message) => 'return' in message || 'error' in message);
      connection.write(`${JSON.stringify({ execute, ...(args === undefined ? {} : { arguments: args }) })}\n`);
      const reply = await answer;
      if (reply.error !== undefined) throw new Error(`${execute}: ${reply.error.desc}`);
      return reply.return;
    },
    event(name) {
      return wait((message) => message.event === name);
    },
  };
}
