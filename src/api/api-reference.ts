// The route reference of docs/api.md, made from the route table (./routes/index.ts), the same
// table the server and its OpenAPI document are made from: scripts/gen-docs.js writes it between
// the markers, and test/docs/generated-docs.test.ts fails when the committed file differs.

import type { TSchema } from '@sinclair/typebox';
import type { RouteDef } from './route.js';
import { ROUTES } from './routes/index.js';

export const REFERENCE_BEGIN = '<!-- route reference: made by scripts/gen-docs.js from src/api/routes; do not edit -->';
export const REFERENCE_END = '<!-- end of the route reference -->';

const TAGS: readonly (readonly [string, string])[] = [
  ['plans', 'Plans'],
  ['tasks', 'Tasks'],
  ['backups', 'VMs, backups and points'],
  ['files', 'Files of a point'],
  ['replicas', 'Replicas and failover'],
  ['status', 'Status, history, metrics, doctor'],
  ['admin', 'Tokens and the audit record'],
  ['old-system', "The old system's routes"],
];

export function apiReference(routes: readonly RouteDef[] = ROUTES): string {
  const lines: string[] = [REFERENCE_BEGIN, ''];
  for (const [tag, title] of TAGS) {
    const own = routes.filter((route) => route.tag === tag);
    if (own.length === 0) continue;
    lines.push(`### ${title}`, '', '| Route | Role | What it does |', '|---|---|---|');
    for (const route of own)
      lines.push(
        `| \`${route.method} ${route.url.replace(/:([a-z_]+)/g, '{$1}')}\` | ${route.role} | ${cell(describe(route))} |`,
      );
    lines.push('');
  }
  const unknown = routes.filter((route) => !TAGS.some(([tag]) => tag === route.tag));
  if (unknown.length > 0)
    throw new Error(`routes with a tag the reference does not list: ${unknown.map((route) => route.url).join(', ')}`);
  lines.push(REFERENCE_END);
  return `${lines.join('\n')}\n`;
}

function describe(route: RouteDef): string {
  const parts = [route.summary.endsWith('.') ? route.summary : `${route.summary}.`];
  const query = fields(route.querystring);
  if (query) parts.push(`Query: ${query}.`);
  const body = fields(route.body);
  if (body) parts.push(`Body: ${body}.`);
  if (route.startsTask) parts.push('Starts a task: 202 (or 200 with `?wait=true`).');
  if (route.action) parts.push(`Audit action \`${route.action}\`.`);
  return parts.join(' ');
}

// `name` (type, required) of an object schema's properties.
function fields(schema: TSchema | undefined): string {
  const properties = (schema as { properties?: Record<string, TSchema>; required?: string[] } | undefined)?.properties;
  if (!properties) return '';
  const required = new Set((schema as { required?: string[] }).required ?? []);
  return Object.entries(properties)
    .map(([name, property]) => `\`${name}\` (${typeOf(property)}${required.has(name) ? ', required' : ''})`)
    .join(', ');
}

function typeOf(schema: TSchema): string {
  if (schema.anyOf)
    return (schema.anyOf as TSchema[])
      .map((option) => (option.const !== undefined ? JSON.stringify(option.const) : typeOf(option)))
      .join(' or ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  return String(schema.type ?? 'any');
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replace(/\s+/g, ' ');
}
