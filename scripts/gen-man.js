// Writes the man page sendense-run(1) from docs/commands.md (itself generated from the commands'
// declarations by scripts/gen-docs.js), so `man sendense-run` says what `sendense-run help` says:
// the overview, then each command's help text and exit codes. Used by scripts/build-deb.sh.
//
//   node scripts/gen-man.js OUT_DIR      writes OUT_DIR/sendense-run.1
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: node scripts/gen-man.js OUT_DIR');
  process.exit(2);
}
const manifest = JSON.parse(readFileSync('package.json', 'utf8'));
const markdown = readFileSync('docs/commands.md', 'utf8');
const sections = splitSections(markdown);

// "## name" sections of the markdown, in order, with their lines.
function splitSections(text) {
  const found = [];
  for (const line of text.split('\n')) {
    const heading = /^## (.+)$/.exec(line);
    if (heading) found.push({ name: heading[1], lines: [] });
    else if (found.length > 0) found.at(-1).lines.push(line);
  }
  return found;
}

// roff text: backslashes, minus signs, a leading . or ' that would read as a request, and any
// character beyond ASCII as a named glyph (\[uXXXX]), which every groff output device can show.
function roff(text) {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/, '\\&$1')
    .replace(/[^\p{ASCII}]/gu, (char) => `\\[u${char.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
}

// Markdown prose as plain text: `code` and [links](target) keep only their words.
function plain(text) {
  return text.replace(/\[([^\]]+)\]\([^)]+\)/g, '$1').replace(/`([^`]+)`/g, '$1');
}

// A section as roff: its ```text blocks verbatim, its exit-code table as tagged paragraphs, prose.
function sectionBody(lines) {
  const out = [];
  let inBlock = false;
  for (const line of lines) {
    if (line.startsWith('```')) {
      inBlock = !inBlock;
      out.push(...(inBlock ? ['.nf', '.RS 2'] : ['.RE', '.fi']));
      continue;
    }
    if (inBlock) out.push(roff(line));
    else if (/^\| *(code|-+) *\|/.test(line) || /^\|---/.test(line)) continue;
    else if (line.startsWith('|')) {
      const [code, when] = line
        .split('|')
        .slice(1, -1)
        .map((cell) => cell.trim());
      out.push('.TP', `.B ${roff(code)}`, roff(plain(when)));
    } else if (/^`sendense-run help/.test(line) || /^`sendense-run --help`/.test(line)) continue;
    else if (line.trim() === '') out.push('.PP');
    else out.push(roff(plain(line)));
  }
  // Consecutive paragraph breaks collapse into one.
  return out.filter(
    (line, index) => !(line === '.PP' && (index === 0 || out[index - 1] === '.PP' || out[index - 1] === '.TP')),
  );
}

// What comes before "## Contents", without the title and the generated-file note.
const intro = markdown.split('## Contents')[0].split('\n').slice(2);
const page = [
  `.TH SENDENSE\\-RUN 1 "" "sendense\\-run ${roff(manifest.version)}" "User Commands"`,
  '.SH NAME',
  `sendense\\-run \\- ${roff(manifest.description.replace(/^./, (first) => first.toLowerCase()))}`,
  '.SH SYNOPSIS',
  '.B sendense\\-run',
  '[\\fIoptions\\fR] \\fIcommand\\fR [\\fIargs\\fR]',
  '.SH DESCRIPTION',
  ...sectionBody(intro.filter((line) => !line.startsWith('<!--'))),
  ...sectionBody(sections.find((section) => section.name === 'Overview')?.lines ?? []),
  '.SH COMMANDS',
  ...sections
    .filter((section) => !['Contents', 'Overview'].includes(section.name))
    .flatMap((section) => [`.SS ${roff(section.name)}`, ...sectionBody(section.lines)]),
  '.SH FILES',
  '.TP',
  '.B /etc/sendense/hub.yaml',
  'the hub config (limits, rate, notify), when it exists',
  '.TP',
  '.B /var/lib/sendense/sendense.db',
  "root's default state database",
  '.SH SEE ALSO',
  'The guides in the package: docs/operations.md, docs/plan\\-reference.md, docs/how\\-it\\-works.md (the Debian package installs them under /usr/share/doc/sendense\\-run/docs/).',
];
mkdirSync(outDir, { recursive: true });
writeFileSync(path.join(outDir, 'sendense-run.1'), `${page.join('\n')}\n`);
