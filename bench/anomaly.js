// Ransomware signals on real data (docs/anomaly.md): how many attacks the suspect-point check
// flags, how many ordinary days it mistakes for one, and what the sampling costs.
//
// The corpus is made here, the same on every run: a real ext4 filesystem (mkfs.ext4 -d) in a qcow2
// disk holding text, programs, already-compressed files and a SQLite database; ordinary days
// (log appends, package installs, database writes, deletions, one big compressed archive written
// on purpose); then attacks with `openssl enc` over 5%, 20% and 60% of the data, in place and as
// encrypted copies with the originals deleted, each followed by the operator putting the files back
// and two ordinary days. Every point is taken by the real CLI (`sendense-run PLAN`), every
// verdict read back from `backups --json`.
// BENCH_ANOMALY_DAYS (ordinary days before the attacks, default 60), BENCH_TMPDIR.
import { execFileSync } from 'node:child_process';
import { copyFileSync, readdirSync, statSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createCipheriv, randomBytes } from 'node:crypto';
import { join, relative } from 'node:path';
import { bundle } from './support/bundle.js';
import { cli, requireBuild, root } from './support/built.js';
import { benchPorts, writeLocalPlan } from './support/local-plan.js';
import { scratchDir } from './support/scratch.js';
import { timedRun } from './support/timed-run.js';
import { median } from './support/stats.js';

const MiB = 1024 * 1024;
const DAYS = Number(process.env.BENCH_ANOMALY_DAYS ?? 60);
requireBuild('anomaly');
const dir = scratchDir('sendense-bench-anomaly-');
const guestFs = await import(await bundle(join(root, 'test/anomaly/guest-fs.ts'), join(dir, 'guest-fs.mjs')));
const { binaryOf, textOf } = guestFs;

// Reproducible bytes that do not compress (a JPEG's or a zip's): AES-CTR of zeroes under a fixed key.
function compressedOf(seed, bytes) {
  const key = Buffer.alloc(32, seed);
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(bytes));
}

const DB = join(dir, 'app.db');
const sqlite = (sql) => execFileSync('sqlite3', [DB], { input: sql });

// The first filesystem beyond the test guest's own mix: more documents, a program folder, photos,
// and an application's SQLite database.
function populate(tree) {
  for (const folder of ['srv/share', 'usr/lib/app', 'home/photos', 'var/lib/app'])
    mkdirSync(join(tree, folder), { recursive: true });
  for (let index = 0; index < 64; index++)
    writeFileSync(join(tree, `srv/share/report-${index}.txt`), textOf(`report-${index}`, MiB));
  for (let index = 0; index < 16; index++)
    writeFileSync(join(tree, `usr/lib/app/lib-${index}.so`), binaryOf(`lib-${index}`, 2 * MiB));
  for (let index = 0; index < 12; index++)
    writeFileSync(join(tree, `home/photos/photo-${index}.jpg`), compressedOf(index, MiB + index * 64 * 1024));
  const rows = Array.from(
    { length: 40_000 },
    (_, index) => `(${index}, '${textOf(`row-${index}`, 200).toString().replace(/'/g, '')}')`,
  );
  sqlite(
    `PRAGMA page_size=4096; CREATE TABLE items (id INTEGER PRIMARY KEY, body TEXT);\nBEGIN;\n${rows.map((row) => `INSERT INTO items VALUES ${row};`).join('\n')}\nCOMMIT;\n`,
  );
  copyFileSync(DB, join(tree, 'var/lib/app/app.db'));
}

const guest = guestFs.makeGuestFs(dir, { diskBytes: 512 * MiB, populate });
// Every file of the first tree, as the guest names it, with its size: what an attack goes through.
const tree = join(dir, 'root');
const files = [];
(function walk(folder) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const full = join(folder, entry.name);
    if (entry.isDirectory()) walk(full);
    else files.push({ path: `/${relative(tree, full)}`, bytes: statSync(full).size });
  }
})(tree);
const dataBytes = files.reduce((sum, file) => sum + file.bytes, 0);

const repository = join(dir, 'repository');
const db = join(dir, 'state.db');
const plan = writeLocalPlan(join(dir, 'plan.yaml'), {
  name: 'bench-anomaly',
  source: guest.source,
  repository,
  ports: benchPorts(),
});
const sendense = (args) => timedRun([process.execPath, cli, ...args, '--db', db], { stderr: 'pipe' });
// One backup; the verdict on the point it took.
async function backUp() {
  const run = await sendense([plan]);
  const listed = await sendense(['backups', '--vm', 'benchvm', '--json']);
  const points = listed.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  const point = points.at(-1);
  const changed = point.disks.reduce((sum, disk) => sum + (disk.bytes ?? 0), 0);
  const sample = point.disks.map((disk) => disk.sample).find(Boolean);
  return { seconds: run.seconds, id: point.id, suspect: point.suspect, changed, sample };
}

// The ordinary days, in turn: each one also appends to the log.
let packages = 0;
const ordinary = [
  (day) => guestFs.ordinaryChange(guest, day),
  (day) => {
    const folder = `/usr/lib/pkg-${++packages}`;
    const parts = Array.from({ length: 3 }, (_, index) => {
      const file = join(dir, `pkg-${index}`);
      writeFileSync(file, binaryOf(`pkg-${day}-${index}`, MiB + 256 * 1024));
      return `write ${file} ${folder}/part-${index}`;
    });
    guestFs.editFs(guest, [
      `mkdir ${folder}`,
      ...parts,
      ...(packages > 3 ? [`rm /usr/lib/pkg-${packages - 3}/part-0`] : []),
    ]);
  },
  (day) => {
    // A day's writes: a run of rows updated in place (some pages of the table, not all of them).
    const first = (day * 1777) % 37_000;
    sqlite(
      `UPDATE items SET body = '${textOf(`update-${day}`, 180).toString().replace(/'/g, '')}' WHERE id BETWEEN ${first} AND ${first + 3000};`,
    );
    const data = readFileSync(DB);
    if (data.length === statSync(join(tree, 'var/lib/app/app.db')).size)
      guestFs.overwriteInPlace(guest, '/var/lib/app/app.db', data);
    else guestFs.editFs(guest, ['rm /var/lib/app/app.db', `write ${DB} /var/lib/app/app.db`]);
  },
  (day) => {
    const note = join(dir, 'note');
    writeFileSync(note, textOf(`minutes-${day}`, 2 * MiB));
    guestFs.editFs(guest, [`rm /srv/share/report-${day % 64}.txt`, `write ${note} /srv/share/report-${day % 64}.txt`]);
  },
];
const ARCHIVE_DAY = Math.min(40, DAYS);
function archiveOnPurpose() {
  const archive = join(dir, 'share.tar.gz');
  execFileSync('tar', ['-czf', archive, '-C', join(tree, 'srv'), 'share']);
  guestFs.editFs(guest, [`write ${archive} /home/share-backup.tar.gz`]);
  return statSync(archive).size;
}

const mib = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;
const share = (sample) =>
  sample && sample.sampledBlocks > 0
    ? `${Math.round((100 * sample.incompressibleBlocks) / sample.sampledBlocks)}%`
    : '-';
console.log(
  `corpus: ${files.length} files, ${mib(dataBytes)} of data in a ${mib(512 * MiB)} ext4 disk; ${DAYS} ordinary days, then 12 attacks`,
);
console.log(`load before: ${execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim()}`);

const full = await backUp();
console.log(`full: ${full.seconds.toFixed(1)} s`);
const falseAlarms = [];
const ordinaryChanged = [];
async function ordinaryDay(day, label) {
  ordinary[day % ordinary.length](day);
  const note = day === ARCHIVE_DAY ? ` + a ${mib(archiveOnPurpose())} gzip archive on purpose` : '';
  const point = await backUp();
  ordinaryChanged.push(point.changed);
  if (point.suspect) falseAlarms.push({ label: `${label}${note}`, reason: point.suspect });
  if (note || point.suspect)
    console.log(
      `${label}${note}: changed ${mib(point.changed)}, ${share(point.sample)} incompressible, ${point.suspect ? `SUSPECT: ${point.suspect}` : 'not suspect'}`,
    );
}
for (let day = 1; day <= DAYS; day++) await ordinaryDay(day, `day ${day}`);
console.log(
  `${DAYS} ordinary days: changed median ${mib(median(ordinaryChanged))}, ${falseAlarms.length} false alarm(s)`,
);

// Attacks: the files in a fixed order (documents, reports, photos, programs, the database) until
// the share of the data is reached.
const targets = files.filter((file) => !file.path.startsWith('/var/log/'));
function attackFiles(percent) {
  const chosen = [];
  let bytes = 0;
  for (const file of targets) {
    if (bytes >= (dataBytes * percent) / 100) break;
    chosen.push(file.path);
    bytes += file.bytes;
  }
  return { chosen, bytes };
}
const results = [];
let day = DAYS;
for (const round of [1, 2]) {
  for (const percent of [5, 20, 60]) {
    for (const style of ['in place', 'copy + delete']) {
      const before = join(dir, 'before-attack.raw');
      copyFileSync(guest.raw, before);
      const { chosen, bytes } = attackFiles(percent);
      if (style === 'in place') guestFs.encryptInPlace(guest, chosen);
      else guestFs.encryptAndDelete(guest, chosen);
      const point = await backUp();
      results.push({ percent, style, flagged: Boolean(point.suspect) });
      console.log(
        `attack ${round}: ${percent}% ${style} (${chosen.length} files, ${mib(bytes)}): changed ${mib(point.changed)}, ${share(point.sample)} incompressible, ${point.suspect ? 'FLAGGED' : 'missed'}`,
      );
      guestFs.resetTo(guest, before);
      await ordinaryDay(++day, `files put back after attack ${round} ${percent}% ${style}`);
      for (let after = 0; after < 2; after++) await ordinaryDay(++day, `day ${day}`);
    }
  }
}

// The sampling's cost: its CPU time over 1 GiB of changed data (as the transfer calls it, 2 MiB
// reads), against the wall time of a real 1 GiB incremental of ours.
const sampleModule = await import(
  await bundle(join(root, 'runners/transfer/change-sample.ts'), join(dir, 'change-sample.mjs'))
);
const GiB = 1024 * MiB;
const chunk = randomBytes(2 * MiB);
const sampleSeconds = [];
for (let round = 0; round < 5; round++) {
  const sampler = new sampleModule.ChangeSampler(GiB);
  const started = process.hrtime.bigint();
  for (let offset = 0; offset < GiB; offset += chunk.length) sampler.add(offset, chunk);
  sampleSeconds.push(Number(process.hrtime.bigint() - started) / 1e9);
}
const big = join(dir, 'big.qcow2');
execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', big, '2G']);
const bigPlan = writeLocalPlan(join(dir, 'big.yaml'), {
  name: 'bench-anomaly-cost',
  source: big,
  repository,
  ports: benchPorts(),
});
const random = join(dir, 'random-1g');
execFileSync('dd', ['if=/dev/urandom', `of=${random}`, 'bs=4M', 'count=256', 'status=none']);
await sendense([bigPlan]);
const incrementals = [];
for (let round = 0; round < 3; round++) {
  execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -q -s ${random} ${round % 2 === 0 ? 0 : GiB} ${GiB}`, big]);
  incrementals.push((await sendense([bigPlan])).seconds);
}
const sampleCost = median(sampleSeconds);
const incremental = median(incrementals);

const flagged = (percent) => results.filter((result) => result.percent === percent && result.flagged).length;
const of = (percent) => results.filter((result) => result.percent === percent).length;
console.log('\n| attacks | flagged |');
console.log('|---|---|');
for (const percent of [5, 20, 60]) console.log(`| ${percent}% of the data | ${flagged(percent)} of ${of(percent)} |`);
console.log(
  `\nfalse alarms in ${day - 12} ordinary incrementals (the files-put-back ones included): ${falseAlarms.length}`,
);
for (const alarm of falseAlarms) console.log(`  ${alarm.label}: ${alarm.reason}`);
console.log(
  `sampling cost: ${(sampleCost * 1000).toFixed(0)} ms on one thread per GiB changed (median of 5); a 1 GiB incremental took ${incremental.toFixed(2)} s (median of 3): ${((100 * sampleCost) / incremental).toFixed(1)}% (aim <= 3%)`,
);
console.log(`load after: ${execFileSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).trim()}`);
