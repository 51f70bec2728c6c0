// The node side of a file-level restore on a node (src/steps/extract-files.ts), run there as
// `node -e <this file> -- MODE ...` (nothing to install): the hub extracts through its own
// libguestfs appliance and streams the result through the SSH tunnel to a Unix socket here (in a
// directory only the SSH user can enter).
//   check TO FORMAT OVERWRITE          exit 3 with one line on stderr if TO may not be written
//   receive SOCKET TO FORMAT OVERWRITE FORMAT dir: a tar stream extracted into TO; else the
//                                      archive's bytes written to TO; both staged beside TO and
//                                      moved into place only when complete
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');

// `node -e SCRIPT -- MODE ...`: node drops the `--`, so the arguments follow argv[0].
const args = process.argv.slice(1);
const [mode] = args;

function refuse(message) {
  process.stderr.write(`${message}\n`);
  process.exit(3);
}

// The same rules as the hub's checkExtractTarget (src/files/extract-target.ts).
function check(to, format, overwrite) {
  let stat;
  try {
    stat = fs.statSync(to);
  } catch (error) {
    if (error.code !== 'ENOENT') refuse(`cannot use ${to}: ${error.message}`);
    const parent = path.dirname(to);
    if (!fs.existsSync(parent) || !fs.statSync(parent).isDirectory())
      refuse(`cannot write ${to}: ${parent} is not a directory`);
    return false;
  }
  if (format === 'dir') {
    if (!stat.isDirectory())
      refuse(`${to} exists and is not a directory (give a new directory, or a .tar, .tar.gz or .zip file)`);
    if (fs.readdirSync(to).length === 0) return true;
    if (!overwrite)
      refuse(
        `${to} is not empty: give an empty or new directory, or overwrite: true to replace what has the same names`,
      );
    return true;
  }
  if (stat.isDirectory()) refuse(`${to} is a directory, not a ${format} file`);
  if (!overwrite) refuse(`${to} exists: give a new file name, or overwrite: true to replace it`);
  return true;
}

function receive(socketPath, to, format, overwrite) {
  const exists = check(to, format, overwrite);
  const staging = fs.mkdtempSync(path.join(path.dirname(to), `.${path.basename(to)}.sendense-`));
  const fail = (message) => {
    fs.rmSync(staging, { recursive: true, force: true });
    process.stderr.write(`${message}\n`);
    process.exit(1);
  };
  const socket = net.connect({ path: socketPath });
  socket.on('error', (error) => fail(`could not read the stream from the hub: ${error.message}`));
  if (format !== 'dir') {
    const partial = path.join(staging, 'archive');
    const out = fs.createWriteStream(partial, { mode: 0o600 });
    socket.pipe(out);
    out.on('finish', () => {
      fs.renameSync(partial, to);
      fs.rmSync(staging, { recursive: true, force: true });
    });
    return;
  }
  const files = path.join(staging, 'files');
  fs.mkdirSync(files, { mode: 0o700 });
  const tar = spawn('tar', ['-x', '-f', '-', '-C', files, '--numeric-owner'], { stdio: ['pipe', 'ignore', 'inherit'] });
  socket.pipe(tar.stdin);
  tar.on('close', (code) => {
    if (code !== 0) fail(`tar -x into ${to} failed (exit ${code})`);
    const names = fs.readdirSync(files);
    if (!exists) fs.renameSync(files, to);
    else if (fs.readdirSync(to).length === 0) {
      fs.rmdirSync(to);
      fs.renameSync(files, to);
    } else {
      for (const name of names) {
        fs.rmSync(path.join(to, name), { recursive: true, force: true });
        fs.renameSync(path.join(files, name), path.join(to, name));
      }
    }
    fs.rmSync(staging, { recursive: true, force: true });
  });
}

if (mode === 'check') check(args[1], args[2], args[3] === 'true');
else if (mode === 'receive') receive(args[1], args[2], args[3], args[4] === 'true');
else refuse(`files-receiver: unknown mode '${mode}'`);
