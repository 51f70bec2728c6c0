// `sendense-run ack RUN`: an operator has looked at a failed run (docs/operations.md#acknowledging-failures).
// History keeps it failed and says who acknowledged it and when; `status` no longer exits 1 for it
// and the console's dashboard no longer counts it as open.

import { acknowledgeRun, type Acknowledgement } from '../core/acknowledge-run.js';
import { usageError } from '../errors.js';
import { formatLocalTime } from '../format/local-time.js';
import { defineCommand, type CommandSpec } from './command.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';
import { operatorName } from './operator-name.js';

const JSON_OUTPUT: JsonOutput = {
  intro: 'One object.',
  lines: typedLines<Acknowledgement>({
    acknowledged: {
      when: 'the failed run is acknowledged',
      fields: {
        runId: '',
        plan: '',
        by: 'the user recorded as having acknowledged it (the first acknowledgement stands)',
        at: 'when',
        changed: 'false when it was acknowledged already',
      },
    },
  }),
};

export const ackCommand: CommandSpec = defineCommand({
  name: 'ack',
  usage: 'sendense-run ack RUN',
  does:
    'Acknowledge a failed run (its id as history shows it): history keeps it failed and says who acknowledged it\n' +
    'and when; status no longer exits 1 for it, and the console no longer counts it as an open failure.',
  options: [],
  exitCodes: [
    { code: 0, when: 'the run is acknowledged (also when it already was)' },
    { code: 2, when: 'there is no such run, it did not fail, or a usage error' },
  ],
  json: JSON_OUTPUT,
  run: (cli, given) => runAck(cli, given.operands),
});

async function runAck(cli: CliContext, operands: readonly string[]): Promise<number> {
  if (operands.length !== 1) throw usageError('ack RUN: one run id (history shows them)');
  const id = operands[0]!;
  return withExistingStore(cli, async (store) => {
    const ack = await acknowledgeRun(store, id, operatorName());
    if (cli.json) printJson<Acknowledgement>(cli, ack);
    else
      cli.stdout.write(
        `run ${id} of plan ${ack.plan}: acknowledged by ${ack.by} at ${formatLocalTime(ack.at)}${ack.changed ? '' : ' (already)'}\n`,
      );
    return 0;
  });
}
