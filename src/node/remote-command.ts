// The command line sent to a node's sshd, and the environment sent on the channel's stdin so
// no value ever shows on a command line (`ps` on the node) or in sshd's logs.

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const PID_MARKER = 'sendense-pid';

// POSIX single quoting: safe for any byte string but NUL.
export function shellQuote(word: string): string {
  if (word.includes('\0')) throw new Error('argument contains a NUL byte');
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

// The remote wrapper: tell our PID on stderr, make messages English as on the hub (an LC_ALL
// becomes LANG, the LC_* it overrode go: src/process/child-env.ts), read `NAME=value` lines up to
// an empty line and export them, then exec the program (same PID); the channel's stdin stays its
// stdin.
const LOCALE_CATEGORIES =
  'CTYPE NUMERIC TIME COLLATE MONETARY MESSAGES PAPER NAME ADDRESS TELEPHONE MEASUREMENT IDENTIFICATION';
const WRAPPER = [
  `echo "${PID_MARKER} $$" >&2`,
  `if [ -n "\${LC_ALL-}" ]; then export LANG="$LC_ALL"; for sendense_c in ${LOCALE_CATEGORIES}; do unset "LC_$sendense_c"; done; unset LC_ALL sendense_c; fi`,
  'unset LANGUAGE',
  'export LC_MESSAGES=C',
  'while IFS= read -r sendense_line && [ -n "$sendense_line" ]; do export "$sendense_line"; done',
  'unset sendense_line',
  'exec "$0" "$@"',
].join('; ');

export function remoteCommandLine(argv: readonly string[]): string {
  if (argv.length === 0 || argv[0] === '') throw new Error('empty argv');
  return ['exec', 'sh', '-c', shellQuote(WRAPPER), ...argv.map(shellQuote)].join(' ');
}

// What the wrapper reads first: one NAME=value per line, then an empty line.
export function envPreamble(env: Readonly<Record<string, string>> = {}): string {
  const lines = Object.entries(env).map(([name, value]) => {
    if (!ENV_NAME.test(name)) throw new Error(`invalid environment variable name ${JSON.stringify(name)}`);
    if (/[\n\0]/.test(value)) throw new Error(`environment variable ${name} contains a newline or NUL`);
    return `${name}=${value}\n`;
  });
  return `${lines.join('')}\n`;
}

// Splits the wrapper's PID line off the front of stderr; returns the PID once it is complete.
export function takePidLine(stderrSoFar: string): { pid: number; rest: string } | undefined {
  const newline = stderrSoFar.indexOf('\n');
  if (newline === -1) return undefined;
  const match = new RegExp(`^${PID_MARKER} (\\d+)$`).exec(stderrSoFar.slice(0, newline));
  if (!match) return { pid: Number.NaN, rest: stderrSoFar };
  return { pid: Number(match[1]), rest: stderrSoFar.slice(newline + 1) };
}
