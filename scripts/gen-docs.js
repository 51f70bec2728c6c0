// Generates docs/plan-reference.md (from schemas/plan.schema.json, with examples taken from the
// shipped plans), docs/commands.md (from the CLI's own help texts and exit codes), and the made
// parts of docs/api.md (its route reference) and docs/json-events.md (its table of a run's events and
// each command's section, from the command's json declaration),
// so the reference cannot drift from the code. `npm run docs` builds, then runs this; test/docs/
// generated-docs.test.ts runs generateDocs() in memory and fails when a committed file differs.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

const SAMPLE_DIRS = ['plans', 'examples'];

/**
 * Every generated file, by path relative to `root`: { 'docs/plan-reference.md': text, ... }.
 * `cli` holds what the CLI prints: { COMMANDS (every command's declaration, in order), commandHelp, USAGE,
 * apiReference, runEventDocs }.
 */
export function generateDocs(root, cli) {
  const jsonEvents = readFileSync(path.join(root, 'docs/json-events.md'), 'utf8');
  const files = {};
  // schemas/NAME.schema.json -> docs/NAME-reference.md; plans get examples from the shipped plans.
  for (const file of readdirSync(path.join(root, 'schemas'))
    .filter((name) => name.endsWith('.schema.json'))
    .sort()) {
    const name = file.replace(/\.schema\.json$/, '');
    const schema = JSON.parse(readFileSync(path.join(root, 'schemas', file), 'utf8'));
    files[`docs/${name}-reference.md`] = planReference(schema, name === 'plan' ? loadSamplePlans(root) : [], name);
  }
  // docs/json-events.md: its prose as written, its table of a run's events made from their docs and
  // each command's section from the command's json declaration.
  let events = jsonEvents;
  if (cli.runEventDocs)
    events = withMade(
      events,
      ['docs/json-events.md', '<!-- run event table:', '<!-- end of the run event table -->'],
      runEventTable(cli.runEventDocs),
    );
  events = withMade(
    events,
    ['docs/json-events.md', '<!-- command sections:', '<!-- end of the command sections -->'],
    commandJsonSections(cli.COMMANDS),
  );
  files['docs/json-events.md'] = events;
  files['docs/commands.md'] = commandsReference(cli, events);
  // docs/api.md: its prose as written, its route reference made from the route table.
  if (cli.apiReference)
    files['docs/api.md'] = withMade(
      readFileSync(path.join(root, 'docs/api.md'), 'utf8'),
      ['docs/api.md', '<!-- route reference:', '<!-- end of the route reference -->'],
      cli.apiReference(),
    );
  return files;
}

// The shipped plans, parsed: where a key has a real value, the reference shows that one.
export function loadSamplePlans(root) {
  const samples = [];
  for (const dir of SAMPLE_DIRS) {
    for (const name of readdirSync(path.join(root, dir))
      .filter((file) => /\.ya?ml$/.test(file))
      .sort()) {
      samples.push({ file: `${dir}/${name}`, plan: parseYaml(readFileSync(path.join(root, dir, name), 'utf8')) });
    }
  }
  return samples;
}

// ---------------------------------------------------------------------------------------------
// Plan reference

export function planReference(schema, samples, name = 'plan') {
  const out = new Markdown();
  if (name !== 'plan') return schemaReference(out, schema, samples, name);
  out.line(`# Plan reference (format version ${schema.properties.version.const})`);
  out.line();
  out.line(GENERATED('`schemas/plan.schema.json` (and examples from the plans in `plans/` and `examples/`)'));
  out.line();
  out.line(oneParagraph(schema.description));
  out.line();
  out.line(HOW_TO_READ);
  out.line('Unknown keys are errors everywhere. Any string value may contain `${NAME}`, replaced by the');
  out.line('environment variable NAME at run time (a missing variable is an error naming it); secrets are');
  out.line('never literals (`passwordEnv` / `passwordFile`). `sendense-run validate PLAN.yaml` checks a plan');
  out.line('(schema first, then semantic checks: durations, cron expressions, time zones, port ranges,');
  out.line('duplicate disk keys, absolute paths, literal secrets), and every command validates a plan');
  out.line('before it touches anything. Commented plans to start from: [`plans/`](../plans/) and');
  out.line('[`examples/`](../examples/).');
  out.line();
  return schemaReference(out, schema, samples);
}

const HOW_TO_READ = 'How to read it: `a.b` is key `b` inside the mapping `a`; `a[]` is each item of the list `a`.';

// The keys of any schema; `name` given: a schema other than the plan's, with its own title.
function schemaReference(out, schema, samples, name) {
  if (name !== undefined) {
    out.line(`# ${schema.title ?? `${name} file`}: reference`);
    out.line();
    out.line(GENERATED(`\`schemas/${name}.schema.json\``));
    out.line();
    if (schema.description) out.line(oneParagraph(schema.description));
    out.line();
    out.line(HOW_TO_READ);
    out.line();
  }
  const root = { schema, defs: schema };
  const common = entriesOf(root, schema, '', []);
  const variants = conditionalVariants(root, schema, '', []);

  out.line('## Contents');
  out.line();
  out.line(
    (name === undefined ? '- [Keys of every plan](#keys-of-every-plan): ' : '- [Keys](#keys): ') +
      common
        .filter((entry) => entry.path && !entry.path.includes('.'))
        .map((entry) => `\`${entry.path}\``)
        .join(', '),
  );
  for (const variant of variants) out.line(`- [${variant.heading}](#${slug(variant.heading)})`);
  out.line();

  out.line(name === undefined ? '## Keys of every plan' : '## Keys');
  out.line();
  out.line(`Required: ${(schema.required ?? []).map((key) => `\`${key}\``).join(', ') || 'none'}.`);
  for (const [name, text] of alternatives(schema)) out.line(`Also: ${name} ${text}.`);
  out.line();
  for (const entry of common) writeEntry(out, entry, samples);

  for (const variant of variants) {
    out.line(`## ${variant.heading}`);
    out.line();
    for (const note of variant.notes) out.line(note);
    out.line();
    for (const entry of variant.entries) writeEntry(out, entry, samples);
  }
  return out.text();
}

// Follows a local $ref; sibling keys of the $ref (a description) win over the target's.
function resolve(root, schema) {
  if (schema === null || typeof schema !== 'object' || schema.$ref === undefined) return schema;
  const target = schema.$ref
    .replace(/^#\//, '')
    .split('/')
    .reduce((node, part) => node[part], root.defs);
  const { $ref: _ref, ...siblings } = schema;
  const resolved = { ...resolve(root, target), ...siblings };
  return resolved.items?.$ref ? { ...resolved, items: resolve(root, resolved.items) } : resolved;
}

function resolveKey(root, schema) {
  const resolved = resolve(root, schema);
  return resolved?.items?.$ref ? { ...resolved, items: resolve(root, resolved.items) } : resolved;
}

// The documented keys under `schema` (an object schema), depth first, variants of nested objects included.
// `alternates`: prefixes of keys declared with the same definition (hooks.after. for hooks.before.),
// where a shipped plan may show an example.
function entriesOf(root, schema, prefix, conditions, alternates = []) {
  const entries = [];
  const required = new Set(schema.required ?? []);
  const onlyWhen = allowedOnlyWhen(schema, prefix);
  for (const [key, raw] of Object.entries(schema.properties ?? {})) {
    if (raw === false) continue;
    const keySchema = resolveKey(root, raw);
    const keyPath = `${prefix}${key}`;
    const sameDefinition = raw.$ref
      ? Object.entries(schema.properties)
          .filter(([other, value]) => other !== key && value?.$ref === raw.$ref)
          .map(([other]) => `${prefix}${other}`)
      : [];
    const others = [...alternates.map((alternate) => `${alternate}${key}`), ...sameDefinition];
    entries.push({
      path: keyPath,
      schema: keySchema,
      required: required.has(key),
      conditions,
      alternates: others,
      onlyWhen: onlyWhen.get(key),
    });
    entries.push(...childrenOf(root, keySchema, keyPath, conditions, others));
  }
  return entries;
}

// Keys that variants forbid for some values of their discriminator: key -> "`kind` is `restore`".
function allowedOnlyWhen(schema, prefix) {
  const byKey = new Map();
  const branches = (schema.allOf ?? []).filter((branch) => branch.if?.properties && branch.then);
  if (branches.length === 0) return byKey;
  const [[discriminator]] = Object.entries(branches[0].if.properties);
  const all = schema.properties?.[discriminator]?.enum;
  if (!all) return byKey;
  for (const key of Object.keys(schema.properties ?? {})) {
    const allowed = all.filter(
      (value) =>
        !branches.some((branch) => {
          const test = branch.if.properties[discriminator];
          const values = test?.const !== undefined ? [test.const] : (test?.enum ?? []);
          return values.includes(value) && branch.then.properties?.[key] === false;
        }),
    );
    if (allowed.length < all.length)
      byKey.set(key, describeConditions([{ path: `${prefix}${discriminator}`, values: allowed }]));
  }
  return byKey;
}

function childrenOf(root, schema, keyPath, conditions, alternates = []) {
  if (schema.type === 'object' && schema.properties) {
    const entries = entriesOf(
      root,
      schema,
      `${keyPath}.`,
      conditions,
      alternates.map((alternate) => `${alternate}.`),
    );
    // A nested object with variants (vm.source by type, restore.target by type): each variant's keys.
    for (const variant of conditionalVariants(root, schema, `${keyPath}.`, conditions)) {
      entries.push({ heading: variant.heading, notes: variant.notes }, ...variant.entries);
    }
    return entries;
  }
  if (schema.type === 'array' && schema.items) {
    const items = resolve(root, schema.items);
    if (items.type === 'object' && items.properties)
      return entriesOf(
        root,
        items,
        `${keyPath}[].`,
        conditions,
        alternates.map((alternate) => `${alternate}[].`),
      );
  }
  return [];
}

// `allOf: [{ if: { properties: { K: { const | enum } } }, then: ... }]`: one variant per branch.
function conditionalVariants(root, schema, prefix, conditions) {
  const variants = [];
  for (const branch of schema.allOf ?? []) {
    if (!branch.if || !branch.then) continue;
    const [[key, test]] = Object.entries(branch.if.properties);
    const values = test.const !== undefined ? [test.const] : test.enum;
    const condition = { path: `${prefix}${key}`, values };
    const when = [...conditions, condition];
    const then = resolve(root, branch.then);
    const heading = `When ${describeConditions(when)}`;
    const notes = [];
    const requiredHere = (then.required ?? []).filter(
      (name) => name !== key && !(schema.required ?? []).includes(name),
    );
    if (requiredHere.length > 0)
      notes.push(`Required: ${requiredHere.map((name) => `\`${prefix}${name}\``).join(', ')}.`);
    const forbidden = Object.entries(then.properties ?? {})
      .filter(([, value]) => value === false)
      .map(([name]) => `\`${prefix}${name}\``);
    if (forbidden.length > 0) notes.push(`Not allowed: ${forbidden.join(', ')}.`);
    if (then.description && then.description !== schema.description) notes.push(oneParagraph(then.description));
    // Keys the branch restates (the discriminator, `false`) are documented elsewhere; the others here,
    // the branch's schema merged into the parent's declaration of the same key.
    const branchSchema = {
      ...then,
      properties: Object.fromEntries(
        Object.entries(then.properties ?? {}).filter(([name, value]) => name !== key && value !== false),
      ),
    };
    const parentProps = schema.properties ?? {};
    const entries = [];
    const required = new Set(then.required ?? []);
    for (const [name, raw] of Object.entries(branchSchema.properties)) {
      const keySchema = resolveKey(root, raw);
      const parent = parentProps[name] ? resolveKey(root, parentProps[name]) : {};
      // The parent's declaration is a placeholder (`vm: { type: object }`): the branch's is the real one.
      const merged = { ...parent, ...keySchema };
      const keyPath = `${prefix}${name}`;
      entries.push({
        path: keyPath,
        schema: merged,
        required: required.has(name) || (schema.required ?? []).includes(name),
        conditions: when,
        alternates: [],
      });
      entries.push(...childrenOf(root, merged, keyPath, when));
    }
    variants.push({ heading, notes, entries, conditions: when });
  }
  return variants;
}

function describeConditions(conditions) {
  return conditions
    .map(({ path: keyPath, values }) => `\`${keyPath}\` is ${values.map((value) => `\`${value}\``).join(' or ')}`)
    .join(' and ');
}

function writeEntry(out, entry, samples) {
  if (entry.heading) {
    out.heading(3, entry.heading);
    for (const note of entry.notes) out.line(note);
    out.line();
    return;
  }
  const { schema } = entry;
  const heading = `\`${entry.path}\``;
  out.heading(3, heading);
  const title = schema.title ? `**${schema.title}.** ` : '';
  out.line(`${title}${oneParagraph(schema.description ?? items(schema)?.description ?? '')}`.trim());
  out.line();
  const facts = [
    ['type', typeOf(entry.schema)],
    ['required', entry.required ? 'yes' : 'no'],
  ];
  if (entry.conditions.length > 0) facts.push(['only when', describeConditions(entry.conditions)]);
  if (entry.onlyWhen) facts.push(['allowed only when', entry.onlyWhen]);
  if (schema.default !== undefined) facts.push(['default', code(schema.default)]);
  const allowed = allowedValues(schema) ?? allowedValues(items(schema) ?? {});
  if (allowed) facts.push(['allowed values', allowed]);
  for (const [name, text] of constraints(schema)) facts.push([name, text]);
  const itemSchema = items(schema);
  if (itemSchema) for (const [name, text] of constraints(itemSchema)) facts.push([`each item: ${name}`, text]);
  out.line('| | |');
  out.line('|---|---|');
  for (const [name, text] of facts) out.line(`| ${name} | ${text.replaceAll('|', '\\|')} |`);
  out.line();
  const example = exampleFor(entry, samples);
  if (example !== undefined) {
    out.line(`<!-- docs-test: fragment -->`);
    out.line('```yaml');
    out.line(`${example.yaml.trimEnd()}${example.from ? `   # from ${example.from}` : ''}`);
    out.line('```');
    out.line();
  }
}

// oneOf / anyOf / not, in words: which keys or which kinds of value are accepted together.
function alternatives(schema) {
  const facts = [];
  const one = (alternative) => {
    if (alternative === false) return 'nothing';
    const parts = [];
    if (alternative.title) parts.push(alternative.title);
    if (alternative.required) parts.push(`with ${alternative.required.map((key) => `\`${key}\``).join(' and ')}`);
    if (alternative.const !== undefined) parts.push(code(alternative.const));
    if (alternative.enum) parts.push(alternative.enum.map(code).join(' or '));
    if (alternative.type && alternative.const === undefined && !alternative.enum)
      parts.push(Array.isArray(alternative.type) ? alternative.type.join(' or ') : alternative.type);
    if (alternative.$ref) parts.push(`a ${alternative.$ref.split('/').pop()}`);
    if (alternative.not) parts.push(`not ${one(alternative.not)}`);
    if (alternative.anyOf) parts.push(`any of (${alternative.anyOf.map(one).join('; ')})`);
    if (alternative.oneOf) parts.push(`one of (${alternative.oneOf.map(one).join('; ')})`);
    return parts.join(' ') || 'anything';
  };
  if (schema.oneOf) facts.push(['exactly one of', schema.oneOf.map(one).join('; ')]);
  if (schema.anyOf) facts.push(['at least one of', schema.anyOf.map(one).join('; ')]);
  if (schema.not) facts.push(['must not be', one(schema.not)]);
  return facts;
}

// Every JSON Schema keyword this generator puts into words; the docs test fails on any other, so
// a schema change the reference would not show is noticed.
export const DESCRIBED_KEYWORDS = new Set([
  '$schema',
  '$id',
  'title',
  'description',
  'type',
  'properties',
  'additionalProperties',
  'required',
  '$ref',
  'definitions',
  'const',
  'enum',
  'default',
  'examples',
  'pattern',
  'patternErrorMessage',
  'minLength',
  'maxLength',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'format',
  'items',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'allOf',
  'if',
  'then',
  'oneOf',
  'anyOf',
  'not',
]);

// The keywords used anywhere in a schema (property names under `properties`/`definitions` excluded).
export function schemaKeywords(schema, found = new Set()) {
  if (Array.isArray(schema)) {
    for (const item of schema) schemaKeywords(item, found);
  } else if (schema !== null && typeof schema === 'object') {
    for (const [key, value] of Object.entries(schema)) {
      found.add(key);
      if (key === 'properties' || key === 'definitions')
        for (const child of Object.values(value)) schemaKeywords(child, found);
      else if (key !== 'const' && key !== 'enum' && key !== 'default' && key !== 'examples')
        schemaKeywords(value, found);
    }
  }
  return found;
}

function items(schema) {
  return schema.type === 'array' && schema.items && typeof schema.items === 'object' ? schema.items : undefined;
}

function typeOf(schema) {
  if (schema.const !== undefined)
    return `${typeof schema.const === 'number' ? (Number.isInteger(schema.const) ? 'integer' : 'number') : typeof schema.const}, always ${code(schema.const)}`;
  if (schema.enum) return 'string';
  if (schema.type === 'array') {
    const item = schema.items ?? {};
    const itemType = item.type === 'object' ? 'mappings' : item.type ? `${item.type}s` : 'values';
    return `list of ${itemType}`;
  }
  if (schema.type === 'object') return 'mapping';
  return schema.type ?? 'any';
}

function allowedValues(schema) {
  if (schema.enum) return schema.enum.map(code).join(', ');
  return undefined;
}

function constraints(schema) {
  const facts = [];
  if (schema.pattern)
    facts.push([
      'pattern',
      `\`${schema.pattern}\`${schema.patternErrorMessage ? ` (${schema.patternErrorMessage})` : ''}`,
    ]);
  if (schema.minimum !== undefined && schema.maximum !== undefined)
    facts.push(['range', `${schema.minimum} to ${schema.maximum}`]);
  else if (schema.minimum !== undefined) facts.push(['range', `at least ${schema.minimum}`]);
  else if (schema.maximum !== undefined) facts.push(['range', `at most ${schema.maximum}`]);
  if (schema.minLength !== undefined && schema.maxLength !== undefined)
    facts.push(['length', `${schema.minLength} to ${schema.maxLength} characters`]);
  else if (schema.minLength === 1) facts.push(['length', 'not empty']);
  else if (schema.minLength !== undefined) facts.push(['length', `at least ${schema.minLength} characters`]);
  else if (schema.maxLength !== undefined) facts.push(['length', `at most ${schema.maxLength} characters`]);
  if (schema.exclusiveMinimum !== undefined) facts.push(['above', String(schema.exclusiveMinimum)]);
  if (schema.exclusiveMaximum !== undefined) facts.push(['below', String(schema.exclusiveMaximum)]);
  if (schema.format) facts.push(['format', schema.format]);
  if (schema.minItems !== undefined && schema.maxItems !== undefined)
    facts.push(['items', `${schema.minItems} to ${schema.maxItems}`]);
  else if (schema.minItems !== undefined) facts.push(['items', `at least ${schema.minItems}`]);
  else if (schema.maxItems !== undefined) facts.push(['items', `at most ${schema.maxItems}`]);
  if (schema.minProperties !== undefined) facts.push(['keys', `at least ${schema.minProperties}`]);
  if (schema.maxProperties !== undefined) facts.push(['keys', `at most ${schema.maxProperties}`]);
  if (schema.uniqueItems) facts.push(['items', 'no repeats']);
  for (const [name, text] of alternatives(schema)) facts.push([name, text]);
  if (schema.type === 'object' && schema.additionalProperties === false) facts.push(['other keys', 'not allowed']);
  return facts;
}

// A YAML fragment showing the key in place: the value from a shipped plan where one has it (in a
// plan matching the entry's conditions), else the schema's example, default, constant or first
// allowed value, else one built from the key's own keys.
function exampleFor(entry, samples) {
  for (const where of [entry.path, ...entry.alternates]) {
    for (const sample of samples) {
      const matched = entry.conditions.map((condition) => valueAt(sample.plan, condition.path.split('.')));
      if (!entry.conditions.every((condition, index) => condition.values.includes(matched[index]))) continue;
      const value = valueAt(sample.plan, where.split('.'));
      if (value !== undefined) return { yaml: fragment(entry, value, matched), from: sample.file };
    }
  }
  const value = schemaExample(entry.schema);
  return value === undefined ? undefined : { yaml: fragment(entry, value) };
}

function schemaExample(schema) {
  if (schema.examples?.length) return schema.examples[0];
  if (schema.default !== undefined) return schema.default;
  if (schema.const !== undefined) return schema.const;
  if (schema.enum) return schema.enum[0];
  const eg = /e\.g\. ([^\s,;)]+[^\s,;).])/.exec(schema.description ?? '');
  if (schema.type === 'string' && eg) return eg[1].replace(/^"(.*)"$/, '$1');
  if (schema.type === 'string') return '…';
  if (schema.type === 'integer') return schema.minimum ?? 1;
  if (schema.type === 'boolean') return true;
  if (schema.type === 'array' && schema.items) {
    const item = schemaExample({ description: schema.description, ...schema.items });
    return item === undefined ? undefined : [item];
  }
  if (schema.type === 'object' && schema.properties) {
    const object = {};
    for (const [key, value] of Object.entries(schema.properties)) {
      if (value === false || !(schema.required ?? []).includes(key)) continue;
      const example = schemaExample(value);
      if (example !== undefined) object[key] = example;
    }
    return Object.keys(object).length > 0 ? object : undefined;
  }
  return undefined;
}

// The value at `segments` (`disks[]` = the first item of disks), or undefined.
function valueAt(plan, segments) {
  let node = plan;
  for (const segment of segments) {
    const listItem = segment.endsWith('[]');
    const key = listItem ? segment.slice(0, -2) : segment;
    if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
    node = node[key];
    if (listItem) {
      if (!Array.isArray(node) || node.length === 0) return undefined;
      node = node[0];
    }
  }
  return node;
}

// Nests `value` under the entry's path, with the conditions' values beside it (kind: restore, type: nbd).
function fragment(entry, value, conditionValues = []) {
  const top = {};
  const put = (segments, leaf) => {
    let node = top;
    segments.forEach((segment, index) => {
      const last = index === segments.length - 1;
      const listItem = segment.endsWith('[]');
      const key = listItem ? segment.slice(0, -2) : segment;
      if (listItem) {
        node[key] ??= [{}];
        if (last) node[key][0] = leaf;
        else node = node[key][0];
      } else if (last) node[key] = leaf;
      else node = node[key] ??= {};
    });
  };
  entry.conditions.forEach((condition, index) => {
    if (condition.path !== entry.path) put(condition.path.split('.'), conditionValues[index] ?? condition.values[0]);
  });
  put(entry.path.split('.'), value);
  return stringifyYaml(top, { lineWidth: 0 });
}

// ---------------------------------------------------------------------------------------------
// Commands

function commandsReference(cli, jsonEvents) {
  const { COMMANDS, commandHelp, USAGE } = cli;
  const sections = jsonSections(jsonEvents);
  const out = new Markdown();
  out.line('# Commands');
  out.line();
  out.line(
    GENERATED(
      'the declarations of the commands (`src/cli/NAME-command.ts`, listed in `src/cli/commands.ts`) and the overview (`src/cli/overview.ts`)',
    ),
  );
  out.line();
  out.line('Each section below is exactly what `sendense-run help COMMAND` (or `sendense-run COMMAND --help`)');
  out.line('prints. `--json` makes every command print one JSON object per line: the event types and');
  out.line('their fields are in [json-events.md](json-events.md). A user error (an invalid plan, a usage');
  out.line('mistake, a missing file) prints one line, `sendense-run: what and where`, and exits 2; a run that');
  out.line('fails exits 1; a bug prints `internal error (a bug, please report it)` with its stack and exits 1.');
  out.line();
  out.line('## Contents');
  out.line();
  for (const { name, usage } of COMMANDS) out.line(`- [\`${name}\`](#${name}): \`${usage}\``);
  out.line('- [`help`](#help)');
  out.line();
  out.line('## Overview');
  out.line();
  out.line('`sendense-run --help`:');
  out.line();
  out.line('```text');
  out.line(USAGE.trimEnd());
  out.line('```');
  out.line();
  for (const command of COMMANDS) {
    const { name } = command;
    out.line(`## ${name}`);
    out.line();
    out.line(`\`sendense-run help ${name}\`:`);
    out.line();
    out.line('```text');
    out.line(commandHelp(command).trimEnd());
    out.line('```');
    out.line();
    out.line('Exit codes:');
    out.line();
    out.line('| code | when |');
    out.line('|---|---|');
    for (const { code: exit, when } of command.exitCodes) out.line(`| ${exit} | ${when.replaceAll('|', '\\|')} |`);
    out.line();
    const section = sections.find((heading) => heading.commands.includes(name));
    out.line(
      section
        ? `\`--json\`: [${section.text.replaceAll('`', '')}](json-events.md#${section.slug}) in json-events.md.`
        : '`--json`: one JSON object per line ([json-events.md](json-events.md)).',
    );
    out.line();
  }
  out.line('## help');
  out.line();
  out.line('`sendense-run help COMMAND` (= `sendense-run COMMAND --help`) prints the section of that command');
  out.line('above and exits 0; `sendense-run help` and `sendense-run --help` print the overview. A command');
  out.line('that is not one is answered with the nearest valid name, exit 2. `sendense-run --version` prints');
  out.line('the package version and the Node.js it runs on.');
  return out.text();
}

// The `##` headings of json-events.md and the commands they name (`sendense-run PLAN.yaml --json` = run).
function jsonSections(text) {
  const slugs = new Slugs();
  const headings = [];
  for (const line of text.split('\n')) {
    const match = /^(#{1,6}) (.*)$/.exec(line);
    if (!match) continue;
    const slugText = slugs.next(match[2]);
    if (match[1] !== '##') continue;
    const commands = [...match[2].matchAll(/`(?:sendense-run )?([a-z]+)[^`]*`/g)].map((found) => found[1]);
    if (/PLAN\.yaml/.test(match[2])) commands.push('run');
    headings.push({ text: match[2], slug: slugText, commands });
  }
  return headings;
}

// ---------------------------------------------------------------------------------------------
// Markdown helpers

const GENERATED = (from) =>
  `<!-- Generated by scripts/gen-docs.js from ${from.replaceAll('`', '')}: do not edit, run \`npm run docs\`. -->`;

class Markdown {
  #lines = [];
  #slugs = new Slugs();
  line(text = '') {
    this.#lines.push(text);
  }
  heading(level, text) {
    this.#slugs.next(text);
    this.line(`${'#'.repeat(level)} ${text}`);
    this.line();
  }
  text() {
    return `${this.#lines
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trimEnd()}\n`;
  }
}

// GitHub's heading anchors: lower case, punctuation dropped, spaces to '-', repeats numbered.
class Slugs {
  #seen = new Map();
  next(text) {
    const base = slug(text);
    const count = this.#seen.get(base) ?? 0;
    this.#seen.set(base, count + 1);
    return count === 0 ? base : `${base}-${count}`;
  }
}

function slug(text) {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/ /g, '-');
}

function code(value) {
  return `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;
}

function oneParagraph(text) {
  return (text ?? '').replace(/\s+/g, ' ').trim();
}

// The text from the begin marker to the end marker's line replaced by the made one (markers included).
function withMade(text, [file, beginMarker, endMarker], made) {
  const begin = text.indexOf(beginMarker);
  const end = text.indexOf(endMarker);
  if (begin < 0 || end < begin) throw new Error(`${file}: the markers ${beginMarker} … ${endMarker} are missing`);
  return `${text.slice(0, begin)}${made}${text.slice(end + endMarker.length + 1)}`;
}

// The events of a run (src/engine/run-event-docs.ts): a row each, its fields with what they hold.
function runEventTable(events) {
  return [
    '<!-- run event table: made by scripts/gen-docs.js from src/engine/run-event-docs.ts; do not edit -->',
    '',
    ...lineTable('`type`', events, (type) => `\`${type}\``),
    '',
    '<!-- end of the run event table -->',
    '',
  ].join('\n');
}

// Each command's section: what its declaration (`json`, src/output/json-output.ts) says of its lines, in
// the order of the commands; commands that share a declaration (protect, unprotect) share a section.
function commandJsonSections(commands) {
  const lines = [
    "<!-- command sections: made by scripts/gen-docs.js from each command's json declaration (src/output/json-output.ts); do not edit -->",
    '',
  ];
  const done = new Set();
  for (const { json } of commands) {
    if (done.has(json)) continue;
    done.add(json);
    const names = commands.filter((other) => other.json === json).map((other) => `\`${other.name} --json\``);
    lines.push(`## ${json.heading ?? names.join(', ')}`, '');
    if (json.intro) lines.push(json.intro, '');
    const { typed, lines: declared } = json.lines;
    // A command that prints only a run's events (restore) declares no lines of its own.
    if (Object.keys(declared).length > 0)
      lines.push(...lineTable(typed ? '`type`' : 'line', declared, (name) => (typed ? `\`${name}\`` : name)), '');
    if (json.after) lines.push(json.after, '');
  }
  lines.push('<!-- end of the command sections -->', '');
  return lines.join('\n');
}

// A table of lines: a row each, `when` and its fields with what they hold.
function lineTable(first, declared, label) {
  const cell = (text) => text.replaceAll('|', '\\|');
  const rows = [`| ${first} | when | fields |`, '|---|---|---|'];
  for (const [name, { when, fields, note }] of Object.entries(declared)) {
    const list = Object.entries(fields)
      .map(([field, text]) => (text ? `\`${field}\` (${text})` : `\`${field}\``))
      .join(', ');
    rows.push(`| ${label(name)} | ${cell(when)} | ${cell(note ? `${list}. ${note}` : list)} |`);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------

async function main() {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const dist = (file) => import(pathToFileURL(path.join(root, 'dist/src', file)).href);
  const [commands, help, overview, api, runEvents] = await Promise.all([
    dist('cli/commands.js'),
    dist('cli/command-help.js'),
    dist('cli/overview.js'),
    dist('api/api-reference.js'),
    dist('engine/run-event-docs.js'),
  ]);
  const files = generateDocs(root, {
    COMMANDS: await commands.loadAllCommands(),
    commandHelp: help.commandHelp,
    USAGE: overview.USAGE,
    apiReference: api.apiReference,
    runEventDocs: runEvents.RUN_EVENT_DOCS,
  });
  for (const [file, text] of Object.entries(files)) {
    writeFileSync(path.join(root, file), text);
    console.log(`gen-docs: wrote ${file}`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
