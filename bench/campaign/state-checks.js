// What the campaign reads back after each step, the way a user or another process would: the
// backups list (CLI), the state database's processes and port leases, the scratch and repository
// directories, and processes the runs started.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteDatabase } from '../../dist/src/store/sqlite-driver.js';
import { runCli, stillRunning } from './run-cli.js';
import { DISK_KEY, VM } from './workspace.js';

// `sendense-run backups --json`, oldest first (of the database `db`: the copy's, say).
export async function listBackups(ws, db = ws.db) {
  const result = await runCli(ws, ['backups', '--vm', VM], undefined, db);
  if (result.exitCode !== 0) throw new Error(`backups failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line));
}

// The files a point is read through: its own and its parents', up the chain.
export function chainFiles(point, byId) {
  const files = [];
  for (let at = point; at !== undefined; at = at.parentId ? byId.get(at.parentId) : undefined) {
    for (const disk of at.disks) files.push(disk.file, disk.file.replace(/\.qcow2$/, '.json'));
  }
  return files;
}

// What changes when a point's bytes on disk may have changed (a merge, a flip, a rewrite).
export function chainSignature(point, byId) {
  return chainFiles(point, byId)
    .map((file) => {
      try {
        const info = statSync(file);
        return `${file}:${info.ino}:${info.size}:${info.mtimeMs}`;
      } catch {
        return `${file}:missing`;
      }
    })
    .join('|');
}

async function dbRows(ws, sql) {
  if (!ws.sqlite) return ws.services.pg.rows(ws.db, sql);
  // No run has opened the state database yet: nothing recorded.
  if (!existsSync(ws.db)) return [];
  const db = new SqliteDatabase(ws.db, { readonly: true, fileMustExist: true, timeout: 5000 });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
}

// Private socket directories (src/qemu/socket-dir.ts): a kill -9 may leave one, empty or with
// sockets nobody listens on, and docs say the next command of its kind removes it a minute later.
const SOCKET_DIR_PREFIXES = [
  'sendense-serve-',
  'sendense-merge-',
  'sendense-point-',
  'sendense-transfer-',
  'sendense-verify-',
  'sendense-relay-',
];

function sweptLater(entry) {
  const name = entry.split('/').pop();
  if (!SOCKET_DIR_PREFIXES.some((prefix) => name.startsWith(prefix))) return false;
  try {
    return (
      statSync(entry).isDirectory() && readdirSync(entry, { withFileTypes: true }).every((child) => child.isSocket())
    );
  } catch {
    return false;
  }
}

function describeEntry(entry) {
  try {
    if (!statSync(entry).isDirectory()) return `${statSync(entry).size} bytes`;
    const names = readdirSync(entry);
    return names.length === 0 ? 'empty directory' : `holding ${names.join(', ')}`;
  } catch {
    return 'gone';
  }
}

// Everything that must be given back once runs ended and doctor ran; one line per thing left.
// `tolerated` gets the documented leftovers (removed here, so each is counted once).
export async function leftovers(ws, noted, backups, tolerated = []) {
  const found = [];
  // A process the kernel has not reaped yet after SIGKILL: give it a moment before calling it left.
  for (let tries = 0; tries < 100 && noted.some(stillRunning); tries++)
    await new Promise((resolve) => setTimeout(resolve, 30));
  for (const entry of noted.filter(stillRunning)) found.push(`process ${entry.pid} left: ${entry.command.join(' ')}`);
  for (const row of await dbRows(ws, 'select pid, kind, run_id as "runId" from processes'))
    found.push(`processes row left: pid ${row.pid} (${row.kind}) of ${row.runId}`);
  for (const row of await dbRows(ws, 'select port, run_id as "runId" from port_leases'))
    found.push(`port lease left: ${row.port} of ${row.runId}`);
  for (const row of await dbRows(ws, 'select node, kind, name from node_resources'))
    found.push(`node resource left: ${row.kind} ${row.name} on ${row.node}`);
  for (const name of readdirSync(ws.tmp)) {
    const entry = join(ws.tmp, name);
    if (sweptLater(entry)) {
      tolerated.push(entry);
      rmSync(entry, { recursive: true, force: true });
    } else found.push(`temporary file left: ${entry} (${describeEntry(entry)})`);
  }
  const ids = new Set(backups.map((backup) => backup.id));
  const diskDir = join(ws.repository, VM, `disk-${DISK_KEY}`);
  let names = [];
  try {
    names = readdirSync(diskDir);
  } catch {
    // No point taken yet.
  }
  for (const name of names) {
    const id = name.replace(/\.(qcow2|json)$/, '');
    if (!ids.has(id)) found.push(`file of no recorded point left: ${join(diskDir, name)}`);
  }
  return found;
}
