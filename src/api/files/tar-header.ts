// POSIX ustar headers (pax 'x' records for what does not fit: a long name or link, a size of
// 8 GiB or more, a large id), as GNU tar and bsdtar read them. Names are the guest's bytes as they are.

const BLOCK = 512;

export interface TarHeaderFacts {
  readonly name: Buffer;
  /** '0' file, '1' hard link, '2' symlink, '5' directory. */
  readonly flag: '0' | '1' | '2' | '5';
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  readonly link?: Buffer;
}

// The header block(s) of one entry: a pax header first when needed.
export function tarHeader(facts: TarHeaderFacts): Buffer {
  const pax: [string, Buffer][] = [];
  const name =
    facts.flag === '5' && facts.name[facts.name.length - 1] !== 0x2f
      ? Buffer.concat([facts.name, Buffer.from('/')])
      : facts.name;
  const link = facts.link ?? Buffer.alloc(0);
  if (name.length > 100) pax.push(['path', name]);
  if (link.length > 100) pax.push(['linkpath', link]);
  const big = (value: number, digits: number) => value > 8 ** digits - 1;
  if (big(facts.size, 11)) pax.push(['size', Buffer.from(String(facts.size))]);
  if (big(facts.uid, 7)) pax.push(['uid', Buffer.from(String(facts.uid))]);
  if (big(facts.gid, 7)) pax.push(['gid', Buffer.from(String(facts.gid))]);
  const mtime = Math.max(0, Math.floor(facts.mtime));
  const main = ustar({ ...facts, name: name.subarray(0, 100), link: link.subarray(0, 100), mtime });
  if (pax.length === 0) return main;
  const body = Buffer.concat(pax.map(([key, value]) => paxRecord(key, value)));
  const paxName = Buffer.from(
    `PaxHeader/${name.subarray(Math.max(0, name.length - 80)).toString('latin1')}`,
    'latin1',
  ).subarray(0, 100);
  const header = ustar({
    name: paxName,
    flag: 'x',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime,
    link: Buffer.alloc(0),
  });
  return Buffer.concat([header, body, Buffer.alloc(padding(body.length)), main]);
}

export function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** Two zero blocks end an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

function ustar(
  facts: Omit<TarHeaderFacts, 'flag'> & { readonly flag: TarHeaderFacts['flag'] | 'x'; readonly link: Buffer },
): Buffer {
  const block = Buffer.alloc(BLOCK);
  facts.name.copy(block, 0);
  octal(block, 100, 8, facts.mode & 0o7777);
  octal(block, 108, 8, Math.min(facts.uid, 8 ** 7 - 1));
  octal(block, 116, 8, Math.min(facts.gid, 8 ** 7 - 1));
  octal(block, 124, 12, Math.min(facts.size, 8 ** 11 - 1));
  octal(block, 136, 12, Math.min(facts.mtime, 8 ** 11 - 1));
  block.write(facts.flag, 156, 'latin1');
  facts.link.copy(block, 157);
  block.write('ustar\u000000', 257, 'latin1');
  // The checksum is summed with its own field as spaces (POSIX, "ustar Interchange Format").
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return block;
}

function octal(block: Buffer, offset: number, length: number, value: number): void {
  block.write(`${value.toString(8).padStart(length - 1, '0')}\u0000`, offset, 'latin1');
}

// "LEN key=value\n", LEN counting itself.
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(` ${key}=`) + value.length + 1;
  let length = rest + String(rest).length;
  if (String(length).length !== String(rest).length) length = rest + String(length).length;
  return Buffer.concat([Buffer.from(`${length} ${key}=`), value, Buffer.from('\n')]);
}
