// A real pseudo-terminal for end-to-end tests: the CLI runs in a tmux pane of a tmux server of
// its own (its own socket, never the user's), the test reads the screen as a user would and
// types keys (Ctrl+C). The server is stopped after each test.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach } from 'vitest';
import { BIN } from './sendense-cli.js';

export interface Terminal {
  /** What the pane shows now, wrapped lines joined, scrollback included, trailing blanks dropped. */
  screen(): string;
  /** Resolves with the screen once it matches (rejects with the screen after timeoutMs). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code once the command ended. */
  exited(timeoutMs?: number): Promise<number>;
  keys(...keys: string[]): void;
}

export interface TerminalOptions {
  readonly cwd?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly columns?: number;
}

// Registers the cleanup; call open() inside a test to run `sendense-run ARGS` on a terminal.
export function useTerminals(): { open(args: readonly string[], options?: TerminalOptions): Terminal } {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) {
      try {
        execFileSync('tmux', ['-S', path.join(dir, 'tmux.sock'), 'kill-server'], { stdio: 'ignore' });
      } catch {
        // The server was not running any more.
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
  return {
    open(args, options = {}) {
      const dir = mkdtempSync(path.join(tmpdir(), 'sendense-tty-'));
      dirs.push(dir);
      return openTerminal(dir, args, options);
    },
  };
}

function openTerminal(dir: string, args: readonly string[], options: TerminalOptions): Terminal {
  const socket = path.join(dir, 'tmux.sock');
  // remain-on-exit keeps the pane on screen after the command ends.
  const config = path.join(dir, 'tmux.conf');
  writeFileSync(config, 'set -g remain-on-exit on\nset -g history-limit 5000\nset -g status off\n');
  const tmux = (...argv: string[]) => execFileSync('tmux', ['-S', socket, ...argv], { encoding: 'utf8' });
  const envArgs = Object.entries({ TERM: 'xterm-256color', ...options.env }).flatMap(([name, value]) => [
    '-e',
    `${name}=${value}`,
  ]);
  // The view depends on CI being unset: the pane's command drops it whatever the test runner has.
  // The exit code goes to a file: tmux 3.3 sometimes never reaps a dead pane's process. The
  // shell's trap only keeps it alive through Ctrl+C to write the code; the CLI gets the signal.
  const exitFile = path.join(dir, 'exit-code');
  const command = ['sh', '-c', 'trap : INT; env -u CI "$@"; echo $? > "$0"', exitFile, process.execPath, BIN, ...args];
  tmux(
    '-f',
    config,
    'new-session',
    '-d',
    '-s',
    'cli',
    '-x',
    String(options.columns ?? 200),
    '-y',
    '40',
    '-c',
    options.cwd ?? process.cwd(),
    ...envArgs,
    '--',
    ...command,
  );
  const screen = () =>
    tmux('capture-pane', '-p', '-J', '-S', '-', '-t', 'cli')
      .split('\n')
      .filter((line) => !line.startsWith('Pane is dead'))
      .join('\n')
      .trimEnd();
  const exitCode = () => (existsSync(exitFile) ? readFileSync(exitFile, 'utf8').trim() : '');
  return {
    screen,
    async waitFor(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = screen();
        if (pattern.test(text)) return text;
        if (Date.now() > deadline) throw new Error(`the screen never showed ${pattern}:\n${text}`);
        await sleep(50);
      }
    },
    async exited(timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const code = exitCode();
        if (code !== '') return Number(code);
        if (Date.now() > deadline) throw new Error(`the command did not end:\n${screen()}`);
        await sleep(50);
      }
    },
    keys: (...keys) => void tmux('send-keys', '-t', 'cli', ...keys),
  };
}
