// `sendense-run checkpoints DOMAIN [--uri URI] [--node [USER@]HOST[:PORT] ...]`: every checkpoint
// on a libvirt domain with who owns it (docs/how-it-works.md#checkpoints-on-a-domain). Reads only.

import type { CheckpointOwnership } from '../checkpoints/checkpoint-owners.js';
import { domainCheckpoints, withDomainNode } from '../checkpoints/domain-checkpoints.js';
import { usageError } from '../errors.js';
import { DEFAULT_LIBVIRT_URI } from '../plan/build-parts.js';
import { parseNodeOption } from '../serve/node-option.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';

const OPTIONS = declareOptions([
  { name: '--uri', value: 'URI', help: `libvirt connection URI on the node (default ${DEFAULT_LIBVIRT_URI})` },
  { name: '--node', value: '[USER@]HOST[:PORT]', help: 'the node the domain is on, over SSH (default: this host)' },
  { name: '--identity', value: 'FILE', help: 'with --node: the SSH private key (default: the agent, ~/.ssh keys)' },
  { name: '--known-hosts', value: 'FILE', help: "with --node: the node's host key (default ~/.ssh/known_hosts)" },
]);

type CheckpointsLine =
  | ({ readonly type: 'checkpoint'; readonly domain: string; readonly node: string } & Omit<
      CheckpointOwnership,
      'madeBy'
    > & { readonly madeBy: { readonly runId: string | null } | null })
  | ({ readonly type: 'summary'; readonly domain: string; readonly node: string } & ReturnType<typeof counts>);

const JSON_OUTPUT: JsonOutput = {
  intro: 'A `checkpoint` per checkpoint on the domain, oldest first, then the `summary`.',
  lines: typedLines<CheckpointsLine>({
    checkpoint: {
      when: 'a checkpoint of the domain',
      fields: {
        domain: '',
        node: '',
        name: '',
        createdAt: 'ISO-8601 UTC, null when libvirt does not say',
        madeBy:
          "`{ runId }` for sendense-run's (`runId` null for a checkpoint made before checkpoints named their run), null otherwise",
        state:
          "`owned` (a plan's next run continues its chain from it), `run` (a run is taking or giving it back), `orphaned` (sendense-run's, but no chain continues from it), `other database` (sendense-run's, made by a run this state database does not know), `other tool` (not sendense-run's)",
        plan: 'the plan whose point recorded it, when one still does',
        repository: "a backup plan's repository",
        replica: "a replicate plan's replica node",
        point: 'that point',
        chain: "that point's chain",
        why: 'one line',
      },
    },
    summary: {
      when: 'at the end: counts',
      fields: {
        domain: '',
        node: '',
        checkpoints: '',
        owned: '',
        orphaned: '',
        run: '',
        otherDatabase: '',
        otherTool: '',
      },
    },
  }),
};

export const checkpointsCommand: CommandSpec = defineCommand({
  name: 'checkpoints',
  usage:
    'sendense-run checkpoints DOMAIN [--uri URI] [--node [USER@]HOST[:PORT] [--identity FILE] [--known-hosts FILE]]',
  does:
    'Every checkpoint on a libvirt domain, oldest first, with who owns it: a plan (the backup plan and\n' +
    'repository, or the replicate plan and replica node, whose next run continues its chain from it), a\n' +
    "run taking or giving it back, orphaned (sendense-run's, but no chain continues from it: doctor\n" +
    '--remove-orphaned-checkpoints deletes it), another state database (made by a run this one does not\n' +
    "know), or another tool (not sendense-run's: never touched). A plan's own: sendense-run retire PLAN.yaml.",
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: 'listed (also when the domain has none, or when there is no state database yet: it says so)' },
    { code: 1, when: 'libvirt or the node could not be asked (it says why)' },
    { code: 2, when: 'no such domain, bad --node, or a usage error' },
  ],
  json: JSON_OUTPUT,
  run: runCheckpoints,
});

async function runCheckpoints(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  const uri = given.value('--uri');
  const node = given.value('--node');
  const identity = given.value('--identity');
  const knownHosts = given.value('--known-hosts');
  const [domain, ...extra] = given.operands;
  if (domain === undefined) throw usageError(`checkpoints needs a domain (usage: ${checkpointsCommand.usage})`);
  if (extra.length > 0) throw usageError(`checkpoints takes one domain (got '${extra[0]}' too)`);
  if (node === undefined && (identity !== undefined || knownHosts !== undefined))
    throw usageError('--identity and --known-hosts go with --node');
  const spec = node === undefined ? undefined : parseNodeOption(node, { identity, knownHosts });
  const address = { uri: uri ?? DEFAULT_LIBVIRT_URI, domain };
  return withExistingStore(cli, (store) =>
    withDomainNode(spec, async (host) => {
      const { checkpoints } = await domainCheckpoints(store, host, address);
      if (cli.json) {
        for (const checkpoint of checkpoints)
          printJson<CheckpointsLine>(cli, {
            type: 'checkpoint',
            domain,
            node: host.id,
            ...checkpoint,
            madeBy: checkpoint.madeBy ?? null,
          });
        printJson<CheckpointsLine>(cli, { type: 'summary', domain, node: host.id, ...counts(checkpoints) });
        return 0;
      }
      const where = host.isLocal ? '' : ` on ${host.description}`;
      cli.stdout.write(`checkpoints of domain ${domain}${where} (${address.uri}):\n`);
      for (const checkpoint of checkpoints) cli.stdout.write(`  ${describe(checkpoint)}\n`);
      const tally = Object.entries(counts(checkpoints))
        .filter(([key, count]) => key !== 'checkpoints' && count > 0)
        .map(([key, count]) => `${count} ${LABELS[key]}`);
      cli.stdout.write(
        checkpoints.length === 0 ? '  none\n' : `${checkpoints.length} checkpoint(s): ${tally.join(', ')}\n`,
      );
      return 0;
    }),
  );
}

const LABELS: Readonly<Record<string, string>> = {
  owned: 'owned by a plan',
  orphaned: 'orphaned',
  run: 'in a run',
  otherDatabase: 'of another state database',
  otherTool: 'of another tool',
};

function counts(checkpoints: readonly CheckpointOwnership[]) {
  const of = (state: CheckpointOwnership['state']) => checkpoints.filter((each) => each.state === state).length;
  return {
    checkpoints: checkpoints.length,
    owned: of('owned'),
    orphaned: of('orphaned'),
    run: of('run'),
    otherDatabase: of('other database'),
    otherTool: of('other tool'),
  };
}

// "NAME  CREATED  plan P, repository R (backup B, chain C)" or "orphaned: why".
function describe(checkpoint: CheckpointOwnership): string {
  const head = `${checkpoint.name}  ${checkpoint.createdAt ?? '-'}  `;
  if (checkpoint.state === 'owned') {
    const where =
      checkpoint.repository !== null
        ? `repository ${checkpoint.repository} (backup ${checkpoint.point}`
        : `replica on ${checkpoint.replica} (point ${checkpoint.point}`;
    return `${head}plan ${checkpoint.plan}, ${where}, chain ${checkpoint.chain})`;
  }
  return `${head}${checkpoint.state}: ${checkpoint.why}`;
}
