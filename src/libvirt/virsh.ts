// virsh on a node, as the libvirt source and doctor use it (docs/how-it-works.md#libvirt-domains):
// argv only, the connection URI always named, XML documents never on a command line,
// and a failure is one SendenseError in virsh's own words.

import { randomBytes } from 'node:crypto';
import { SendenseError } from '../errors.js';
import type { ExecOptions, ExecResult, NodeHost } from '../node/node.js';
import { askInSession } from './virsh-session.js';

/**
 * How a command runs on the node (NodeHost.exec). `concurrent`: several may run at once at no extra
 * cost (this host: execOn); a node's go one after another through its command session
 * (docs/how-it-works.md#commands-on-a-node), where one at once would open an SSH session each.
 */
export type NodeExec = ((argv: readonly string[], options?: ExecOptions) => Promise<ExecResult>) & {
  readonly concurrent?: boolean;
  /** virsh's questions may go to the virsh process kept on this host (./virsh-session.ts). */
  readonly virshSessions?: boolean;
};

// How a command runs on `node`, concurrent on this host (where virsh's questions share a process).
export function execOn(node: Pick<NodeHost, 'exec' | 'isLocal'>): NodeExec {
  return Object.assign((argv: readonly string[], options?: ExecOptions) => node.exec(argv, options), {
    concurrent: node.isLocal,
    virshSessions: node.isLocal,
  });
}

export interface Virsh {
  readonly uri: string;
  /** Calls may run at once (the exec says so). */
  readonly concurrent: boolean;
  /**
   * attempt for each, in one virsh process (one connection to libvirt) when all succeed; else each
   * again on its own. Only questions: a call must be safe to make twice. Results in the order asked.
   */
  attemptAll(calls: readonly (readonly string[])[]): Promise<ExecResult[]>;
  /** Runs `virsh -c URI ARGS`; stdout, or a SendenseError saying what failed. */
  run(args: readonly string[], what: string, options?: { readonly quiet?: boolean }): Promise<string>;
  /** The same, returning the result whatever the exit code. */
  attempt(args: readonly string[], options?: { readonly quiet?: boolean }): Promise<ExecResult>;
  /** Runs `virsh -c URI ARGS F` with `xml` in a temporary file F on the node, removed after (ARGS ends with the option naming it). */
  runWithXml(args: readonly string[], xml: string, what: string): Promise<string>;
}

// virsh opens an XML argument by path, and /dev/stdin is a socket under Node.js: a file for the call.
const WITH_XML_FILE = 'f=$(mktemp) || exit 1; cat >"$f"; "$@" "$f"; rc=$?; rm -f -- "$f"; exit $rc';

// One call should never hang a run: libvirt answers in milliseconds or a job lock times out (30 s).
const VIRSH_TIMEOUT_MS = 120_000;

export function virshOn(exec: NodeExec, uri: string): Virsh {
  // --quiet drops virsh's informational lines; a caller that reads one (a count) asks for them.
  const ownProcess = async (
    args: readonly string[],
    { quiet = true }: { readonly quiet?: boolean } = {},
  ): Promise<ExecResult> => {
    const options: ExecOptions = { signal: AbortSignal.timeout(VIRSH_TIMEOUT_MS) };
    try {
      return await exec(['virsh', ...(quiet ? ['--quiet'] : []), '-c', uri, ...args], options);
    } catch (error) {
      return {
        exitCode: 124,
        stdout: '',
        stderr: `virsh ${args[0]} did not answer within ${VIRSH_TIMEOUT_MS / 1000} s (${(error as Error).message})`,
      };
    }
  };
  // A question this host's kept virsh answers cleanly, else a process of its own.
  const sessions = exec.virshSessions === true;
  const attempt = async (args: readonly string[], options: { readonly quiet?: boolean } = {}): Promise<ExecResult> => {
    if (sessions && options.quiet !== false) {
      const answer = await askInSession({ uri, args, timeoutMs: VIRSH_TIMEOUT_MS });
      if (answer !== undefined) return answer;
    }
    return ownProcess(args, options);
  };
  const concurrent = exec.concurrent === true;
  // Several questions in one process (see batchCommands), else each on its own.
  const attemptEach = async (calls: readonly (readonly string[])[]): Promise<ExecResult[]> => {
    if (calls.length > 1) {
      const together = splitBatch(await ownProcess([batchCommands(calls)]), calls.length);
      if (together !== undefined) return together;
    }
    if (concurrent) return Promise.all(calls.map((args) => ownProcess(args)));
    const results: ExecResult[] = [];
    for (const args of calls) results.push(await ownProcess(args));
    return results;
  };
  return Object.freeze({
    uri,
    concurrent,
    attempt,
    async attemptAll(all: readonly (readonly string[])[]): Promise<ExecResult[]> {
      // This host's kept virsh answers them one by one; what it cannot answer goes as below.
      const answered: ExecResult[] = [];
      if (sessions) {
        for (const args of all) {
          const answer = await askInSession({ uri, args, timeoutMs: VIRSH_TIMEOUT_MS });
          if (answer === undefined) break;
          answered.push(answer);
        }
      }
      const calls = all.slice(answered.length);
      if (calls.length === 0) return answered;
      return [...answered, ...(await attemptEach(calls))];
    },
    async runWithXml(args: readonly string[], xml: string, what: string): Promise<string> {
      const result = await exec(['sh', '-c', WITH_XML_FILE, 'sendense-virsh', 'virsh', '--quiet', '-c', uri, ...args], {
        signal: AbortSignal.timeout(VIRSH_TIMEOUT_MS),
        stdin: new TextEncoder().encode(xml),
      });
      if (result.exitCode === 0) return result.stdout;
      const message = virshMessage(result);
      throw new SendenseError(`${what}: ${message}${virtTypeHint(message)}`);
    },
    async run(args: readonly string[], what: string, options?: { readonly quiet?: boolean }): Promise<string> {
      const result = await attempt(args, options);
      if (result.exitCode === 0) return result.stdout;
      const message = virshMessage(result);
      throw new SendenseError(`${what}: ${message}${virtTypeHint(message)}`);
    },
  });
}

// Each virsh process connects to libvirt anew: ~50 ms of a call's ~60 ms on this host, more under
// load. Several questions go as one virsh command string ("a; echo MARK; b; echo MARK"), each
// argument quoted as virsh's own parser reads it; virsh goes on after a failed command, so any
// error line (or an output that does not split) means each call is asked again on its own, for
// its own exit status and message (docs/how-it-works.md#libvirt-domains).
const BATCH_MARK = `sendense-virsh-batch-${randomBytes(8).toString('hex')}`;

function batchCommands(calls: readonly (readonly string[])[]): string {
  return calls.map((args) => `${args.map(virshQuoted).join(' ')} ; echo ${BATCH_MARK}`).join(' ; ');
}

// virsh's command-string parser reads '...' literally, as sh does: a ' inside is '\''.
function virshQuoted(arg: string): string {
  return `'${arg.replace(/'/g, "'\\''")}'`;
}

// One result per call, or undefined when the batch did not run cleanly. `echo` ends its word with
// a newline unless virsh is --quiet (9.0): the output after the last mark says which.
function splitBatch(result: ExecResult, count: number): ExecResult[] | undefined {
  if (result.exitCode !== 0 || result.stderr.trim() !== '') return undefined;
  const parts = result.stdout.split(BATCH_MARK);
  const tail = parts.pop();
  if (parts.length !== count || (tail !== '' && tail !== '\n')) return undefined;
  return parts.map((stdout, i) => ({
    exitCode: 0,
    stdout: i > 0 && tail === '\n' ? stdout.replace(/^\n/, '') : stdout,
    stderr: '',
  }));
}

// A definition libvirt refuses for its virt type: on a host without a usable /dev/kvm, a domain
// of type kvm (the plan's definitions' default, and what libvirt sources usually store) cannot be
// defined. What the user can do about it, after libvirt's own words.
export function virtTypeHint(message: string): string {
  if (!/does not support virt type 'kvm'/.test(message)) return '';
  return " (this host's libvirt offers no KVM: no usable /dev/kvm. A definition the plan gives can say virtualization: qemu, software emulation, much slower; docs/plan-reference.md)";
}

/** What virsh says (virshMessage) of a domain libvirt does not have. */
export const NO_SUCH_DOMAIN = /failed to get domain|domain not found|no domain with matching/i;

// virsh prints "error: failed to get domain 'x'" and the reason on separate lines: one line of them.
export function virshMessage(result: ExecResult): string {
  if (result.exitCode === 127) return 'virsh not found on the node (install libvirt-clients)';
  // It could not be started (execLocal: the system's reason in stderr).
  if (result.exitCode === 126) return `virsh could not be started: ${result.stderr.trim()}`;
  const lines = result.stderr
    .split('\n')
    .map((line) => line.replace(/^error:\s*/, '').trim())
    .filter((line) => line !== '' && !/^failed to connect to the hypervisor$/i.test(line));
  return [...new Set(lines)].join(': ') || `virsh exited with ${result.exitCode}`;
}

// Characters that cannot stand in an XML attribute or text as they are.
export function xmlText(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/'/g, '&apos;')
    .replace(/"/g, '&quot;');
}
