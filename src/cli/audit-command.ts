// `sendense-run audit [--limit N] [--token NAME]`: the API's audit record (docs/api.md#the-audit-record),
// newest first: when, which token from where, what on what, and how it ended.

import { usageError } from '../errors.js';
import { formatLocalTime } from '../format/local-time.js';
import { formatTable } from '../format/table.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, rejectOperands, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';
import { withExistingStore } from './open-existing-store.js';
import type { ApiAuditEntry } from '../store/api-records.js';

const OPTIONS = declareOptions([
  { name: '--limit', value: 'N', help: 'at most N entries (default 50)' },
  { name: '--token', value: 'NAME', help: "only this token's actions" },
]);

type AuditLine = { readonly type: 'audit' } & ApiAuditEntry;

const JSON_OUTPUT: JsonOutput = {
  intro: 'An `audit` per entry of the audit log of the API, newest first ([api.md](api.md)).',
  lines: typedLines<AuditLine>({
    audit: {
      when: 'an entry',
      fields: {
        id: '',
        at: '',
        token: 'the token that made the request, null when none',
        address: "the client's address",
        action: '',
        target: 'what it acted on, null when nothing',
        status: 'the HTTP status',
        outcome: '',
        taskId: 'the task it started, else null',
      },
    },
  }),
};

export const auditCommand: CommandSpec = defineCommand({
  name: 'audit',
  usage: 'sendense-run audit [--limit N] [--token NAME]',
  does: 'Every action taken through the API, newest first: when, token, address, action, target, HTTP status, outcome.',
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: 'listed (also when there is no state database yet: it says so)' },
    { code: 2, when: 'a usage error' },
  ],
  json: JSON_OUTPUT,
  run: runAudit,
});

async function runAudit(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  rejectOperands(given.operands, 'audit');
  const limit = given.value('--limit');
  const token = given.value('--token');
  const count = limit === undefined ? 50 : Number(limit);
  if (!Number.isInteger(count) || count < 1)
    throw usageError(`--limit must be a positive whole number (got '${limit}')`);
  return withExistingStore(cli, async (store) => {
    const entries = await store.api.listAudit({ limit: count, ...(token ? { token } : {}) });
    if (cli.json) {
      for (const entry of entries) printJson<AuditLine>(cli, { type: 'audit', ...entry });
      return 0;
    }
    if (entries.length === 0) {
      cli.stdout.write('no API actions recorded yet\n');
      return 0;
    }
    const table = formatTable(
      [
        { header: 'WHEN' },
        { header: 'TOKEN' },
        { header: 'ADDRESS' },
        { header: 'ACTION' },
        { header: 'TARGET' },
        { header: 'STATUS', align: 'right' },
        { header: 'OUTCOME' },
      ],
      entries.map((entry) => [
        formatLocalTime(entry.at),
        entry.token ?? '-',
        entry.address ?? '-',
        entry.action,
        entry.target ?? '-',
        String(entry.status),
        entry.outcome,
      ]),
    );
    for (const line of table) cli.stdout.write(`${line}\n`);
    return 0;
  });
}
