// `sendense-run token add NAME --role ROLE [--expires 90d] | list | remove NAME`: the API's tokens
// (docs/api.md#tokens-and-roles). add prints the secret once, alone on its last line (a script
// takes `tail -n 1`); the state database keeps only its SHA-256.

import { usageError } from '../errors.js';
import { formatLocalTime } from '../format/local-time.js';
import { formatTable } from '../format/table.js';
import { loadHubConfig } from '../hub/hub-config.js';
import type { ApiToken } from '../store/api-records.js';
import { openStore } from '../store/index.js';
import { defineCommand, type CommandSpec } from './command.js';
import { declareOptions, rejectOperands, type GivenOptions } from './command-options.js';
import type { CliContext } from './context.js';
import { printJson, typedLines, type JsonOutput } from '../output/json-output.js';

const OPTIONS = declareOptions([
  {
    name: '--role',
    value: 'ROLE',
    help: 'add: audit (metadata), restore (+ guest data), operator (+ runs and changes), admin (everything)',
  },
  { name: '--expires', value: 'DURATION', help: 'add: a lifetime like 90d, 12h, 4w or 1y (default: none)' },
]);

type TokenLine = ({ readonly type: 'token' } & ApiToken) | { readonly type: 'token-removed'; readonly name: string };

const JSON_OUTPUT: JsonOutput = {
  intro:
    '`token list`: a `token` per token. `token add`: its `token`, then its secret on a line of its own, as is (shown only then). `token remove`: one `token-removed`.',
  lines: typedLines<TokenLine>({
    token: {
      when: '`token list`, `token add`',
      fields: {
        name: '',
        role: '`audit`, `restore`, `operator` or `admin`',
        createdAt: '',
        expiresAt: 'null: never',
        lastUsedAt: 'null: never used',
      },
    },
    'token-removed': { when: '`token remove`', fields: { name: '' } },
  }),
};

export const tokenCommand: CommandSpec = defineCommand({
  name: 'token',
  usage:
    'sendense-run token add NAME --role audit|restore|operator|admin [--expires DURATION] | token list | token remove NAME',
  does:
    "Manage the API's tokens (docs/api.md#tokens-and-roles). add prints the new token's secret once, alone on its\n" +
    'last line (also with --json, after the JSON line); only its SHA-256 is stored. list: name, role, created, last\n' +
    'used, expires. remove: every request and session of that token is refused from then on.',
  options: OPTIONS,
  exitCodes: [
    { code: 0, when: 'added, listed or removed' },
    { code: 1, when: 'a token of that name exists already, or the state database cannot be opened' },
    { code: 2, when: 'no such token to remove, an unknown role or duration, or a usage error' },
  ],
  json: JSON_OUTPUT,
  run: runToken,
});

async function runToken(cli: CliContext, given: GivenOptions<typeof OPTIONS>): Promise<number> {
  const [action, ...rest] = given.operands;
  if (action !== 'add' && action !== 'list' && action !== 'remove')
    throw usageError(`token needs add, list or remove (usage: ${tokenCommand.usage})`);
  const hub = loadHubConfig(cli.hubConfig);
  const store = await openStore(cli.dbPath, { hub: hub.name });
  try {
    // --role and --expires go with add only.
    if (action !== 'add' && given.named.length > 0)
      throw usageError(`token ${action} takes no ${given.named[0]} (it goes with token add)`);
    if (action === 'list') {
      rejectOperands(rest, 'token list');
      const tokens = await store.api.listTokens();
      if (cli.json) {
        for (const token of tokens) printJson<TokenLine>(cli, { type: 'token', ...token });
      } else if (tokens.length === 0) {
        cli.stdout.write('no tokens yet (sendense-run token add NAME --role ROLE)\n');
      } else {
        const when = (at: string | null) => (at === null ? '-' : formatLocalTime(at));
        const table = formatTable(
          [
            { header: 'NAME' },
            { header: 'ROLE' },
            { header: 'CREATED' },
            { header: 'LAST USED' },
            { header: 'EXPIRES' },
          ],
          tokens.map((token) => [
            token.name,
            token.role,
            when(token.createdAt),
            when(token.lastUsedAt),
            token.expiresAt === null ? 'never' : when(token.expiresAt),
          ]),
        );
        for (const line of table) cli.stdout.write(`${line}\n`);
      }
      return 0;
    }
    if (action === 'remove') {
      if (rest.length !== 1) throw usageError('token remove takes one token NAME');
      if (!(await store.api.removeToken(rest[0])))
        throw usageError(`no token named ${rest[0]} (see sendense-run token list)`);
      if (cli.json) printJson<TokenLine>(cli, { type: 'token-removed', name: rest[0]! });
      else cli.stdout.write(`token ${rest[0]} removed: its requests and sessions are refused from now on\n`);
      return 0;
    }
    const role = given.value('--role');
    const expires = given.value('--expires');
    if (rest.length !== 1) throw usageError('token add takes one token NAME (sendense-run token add NAME --role ROLE)');
    if (role === undefined) throw usageError('token add needs --role audit|restore|operator|admin');
    const { addToken, asCliError } = await import('../api/tokens.js');
    const { token, secret } = await addToken(store, {
      name: rest[0]!,
      role,
      ...(expires !== undefined ? { expires } : {}),
    }).catch((error: unknown) => {
      throw asCliError(error);
    });
    if (cli.json) printJson<TokenLine>(cli, { type: 'token', ...token });
    else
      cli.stdout.write(
        `token ${token.name} added, role ${token.role}, ${token.expiresAt ? `expires ${formatLocalTime(token.expiresAt)}` : 'never expires'}; its secret (shown only now):\n`,
      );
    cli.stdout.write(`${secret}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
