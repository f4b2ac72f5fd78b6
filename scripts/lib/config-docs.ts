/**
 * Renders docs/configuration.md and .env.example from the processes' zod schemas, so the variables, their
 * defaults and their descriptions are written down in one place: the `.describe()` texts in config/.
 * `npm run docs:config` writes both files; a unit test fails when they differ from what this renders.
 */
import { isAbsolute, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { format } from 'prettier';
import { z } from 'zod';
import { cliSchema, gatewaySchema, startSchema, workerSchema } from '../../config/index.js';
import { simulatorConfigSchema } from '../../simulator/config.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A process that parses its environment with a schema, in the order the documents name them. */
export interface ConfiguredProcess {
  name: string;
  /** How it is started, for the document's list of processes. */
  startedBy: string;
  schema: z.AnyZodObject;
}

export const PROCESSES: readonly ConfiguredProcess[] = [
  { name: 'worker', startedBy: '`npm run start:worker` (`workers/main.ts`)', schema: workerSchema },
  { name: 'gateway', startedBy: '`npm run start:gateway` (`callback-gateway/main.ts`)', schema: gatewaySchema },
  {
    name: 'npm start',
    startedBy: '`npm start` and `npm run register-callbacks` (`scripts/start.ts`, `scripts/register-callbacks.ts`)',
    schema: startSchema,
  },
  { name: 'euicc', startedBy: 'the ops CLI, `npx euicc` (`client/cli.ts`)', schema: cliSchema },
  { name: 'simulator', startedBy: '`npm run start:simulator` (`simulator/config.ts`)', schema: simulatorConfigSchema },
];

/** Variables read outside the process schemas: by docker compose, the Temporal CLI lookup, demos and tests. */
export const OTHER_VARIABLES: readonly { name: string; readBy: string; fallback: string; description: string }[] = [
  {
    name: 'TEMPORAL_CLI_PATH',
    readBy: '`npm start`, `npm run temporal`, tests',
    fallback: 'unset',
    description: 'The `temporal` CLI to use; unset: `temporal` on PATH, then the cached build',
  },
  {
    name: 'TEMPORAL_UI_URL',
    readBy: 'demos',
    fallback: '`http://127.0.0.1:8233`',
    description: 'Temporal Web UI whose links the demos print',
  },
  {
    name: 'TEMPORAL_CODEC_ENDPOINT',
    readBy: 'docker compose',
    fallback: 'unset',
    description: "Codec endpoint the Temporal UI's browser calls, e.g. `http://localhost:3001/codec`",
  },
  {
    name: 'TEMPORAL_DB_PASSWORD',
    readBy: 'docker compose',
    fallback: '`temporal`',
    description: "Password of compose's PostgreSQL (Temporal's database and the inbox)",
  },
  {
    name: 'TEST_DATABASE_URL',
    readBy: 'integration tests',
    fallback: '`postgres://postgres@127.0.0.1:5432/test`',
    description: 'PostgreSQL server for the store contract and two-gateway tests; they fail, never skip, without it',
  },
];

/** No Markdown table row in the repository's documents is longer than this. */
export const MAX_TABLE_ROW = 160;

export interface VariableDoc {
  name: string;
  /** The processes that read it, in PROCESSES order. */
  readBy: string[];
  /** Per process: the default as text, `undefined` when unset by default, `null` when required. */
  defaults: Map<string, string | null | undefined>;
  /** Per process that describes it. */
  descriptions: Map<string, string>;
  /** True when a default depends on where the clone is (a path), so .env.example does not pin it. */
  derivedDefault: boolean;
}

interface Field {
  fallback: string | null | undefined;
  description: string | undefined;
  derived: boolean;
}

/** Reads the default and description of one schema field through zod's wrappers. */
function field(schema: z.ZodTypeAny): Field {
  const description = schema.description;
  let current: z.ZodTypeAny = schema;
  for (;;) {
    if (current instanceof z.ZodEffects) current = current.innerType();
    else if (current instanceof z.ZodOptional) return { fallback: undefined, description, derived: false };
    else if (current instanceof z.ZodDefault) {
      const value = String(current._def.defaultValue());
      const derived = isAbsolute(value) && value.startsWith(REPO_ROOT);
      return { fallback: derived ? relative(REPO_ROOT, value) : value, description, derived };
    } else return { fallback: null, description, derived: false };
  }
}

/** Every variable of every process schema, in first-seen order. */
export function collectVariables(processes: readonly ConfiguredProcess[] = PROCESSES): VariableDoc[] {
  const variables = new Map<string, VariableDoc>();
  for (const process of processes) {
    for (const [name, schema] of Object.entries(process.schema.shape as Record<string, z.ZodTypeAny>)) {
      // Paths inside the repository are shown relative to it, so every clone renders the same documents.
      const { fallback, description, derived } = field(schema);
      let doc = variables.get(name);
      if (!doc) {
        doc = { name, readBy: [], defaults: new Map(), descriptions: new Map(), derivedDefault: false };
        variables.set(name, doc);
      }
      doc.readBy.push(process.name);
      doc.defaults.set(process.name, fallback);
      doc.derivedDefault ||= derived;
      if (description !== undefined) doc.descriptions.set(process.name, description);
    }
  }
  return [...variables.values()];
}

const defaultText = (fallback: string | null | undefined): string =>
  fallback === undefined ? 'unset' : fallback === null ? 'required' : fallback === '' ? '""' : `\`${fallback}\``;

/** One default, or the first process's with the differing ones in parentheses. */
function defaultCell(variable: VariableDoc): string {
  const shown = variable.readBy.map((p) => defaultText(variable.defaults.get(p)));
  const first = shown[0] ?? 'unset';
  const exceptions = variable.readBy
    .filter((_, i) => shown[i] !== first)
    .map((p) => `${p}: ${shown[variable.readBy.indexOf(p)]}`);
  return exceptions.length === 0 ? first : `${first} (${exceptions.join('; ')})`;
}

/** The description of the first process that gives one; the others' differing ones become notes. */
function descriptionParts(variable: VariableDoc): { main: string; others: [string, string][] } {
  const entries = [...variable.descriptions];
  const main = entries[0]?.[1] ?? '';
  const others = entries.slice(1).filter(([, text]) => text !== main);
  return { main, others };
}

const escapeCell = (text: string) => text.replace(/\|/g, '\\|');

/** Sentences after the first go below the table, so that rows stay short. */
function splitFirstSentence(text: string): [string, string] {
  const at = text.search(/\. (?=[A-Z])/);
  return at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 2)];
}

function groupKey(variable: VariableDoc): string {
  return variable.readBy.join(', ');
}

const list = (names: string[]) =>
  names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;

/** docs/configuration.md, formatted as Prettier would. */
export async function renderConfigurationDoc(processes: readonly ConfiguredProcess[] = PROCESSES): Promise<string> {
  const variables = collectVariables(processes);
  const groups = new Map<string, VariableDoc[]>();
  for (const variable of variables)
    groups.set(groupKey(variable), [...(groups.get(groupKey(variable)) ?? []), variable]);

  const out: string[] = [
    '# Configuration',
    '',
    '<!-- Generated by `npm run docs:config` from the zod schemas in config/ and simulator/config.ts. -->',
    '<!-- Edit the `.describe()` texts there, not this file; a unit test fails when the two differ. -->',
    '',
    'Every process parses its environment once at start-up and stops naming any invalid variable (never its value).',
    'Every variable is optional unless marked _required_: the defaults run the whole system on one machine against',
    'the simulator (`npm start`). `.env.example` lists the same variables with the same defaults.',
    '',
    'The processes and what starts them:',
    '',
    ...processes.map((p) => `- **${p.name}**: ${p.startedBy}`),
    '',
  ];
  for (const [key, members] of groups) {
    out.push(`## Read by ${list(key.split(', '))}`, '', '| variable | default | description |', '| --- | --- | --- |');
    const notes: string[] = [];
    for (const variable of members) {
      const { main, others } = descriptionParts(variable);
      const [first, rest] = splitFirstSentence(main);
      out.push(`| \`${variable.name}\` | ${escapeCell(defaultCell(variable))} | ${escapeCell(first)} |`);
      if (rest) notes.push(`- \`${variable.name}\`: ${rest}.`);
      for (const [process, text] of others) notes.push(`- \`${variable.name}\` (${process}): ${text}.`);
    }
    out.push('');
    if (notes.length > 0) out.push(...notes, '');
  }
  out.push(
    '## Read outside the process schemas',
    '',
    ...OTHER_VARIABLES.map((v) => `- \`${v.name}\` (${v.readBy}; default ${v.fallback}): ${v.description}.`),
    '',
  );
  const text = await format(out.join('\n'), { parser: 'markdown', printWidth: 120, proseWrap: 'preserve' });
  const long = text.split('\n').filter((line) => line.startsWith('|') && line.length > MAX_TABLE_ROW);
  if (long.length > 0) {
    throw new Error(`Shorten these descriptions (table rows over ${MAX_TABLE_ROW} characters):\n${long.join('\n')}`);
  }
  return text;
}

/** Words wrapped into `# ` comment lines of at most `width` characters. */
function comment(text: string, width = 110): string[] {
  const lines: string[] = [];
  let line = '#';
  for (const word of text.split(/\s+/)) {
    if (line.length + 1 + word.length > width && line !== '#') {
      lines.push(line);
      line = '#';
    }
    line += ` ${word}`;
  }
  lines.push(line);
  return lines;
}

/** .env.example: every variable with its description, set to its default or commented out when unset. */
export function renderEnvExample(processes: readonly ConfiguredProcess[] = PROCESSES): string {
  const variables = collectVariables(processes);
  const out: string[] = [
    '# Generated by `npm run docs:config` from the zod schemas in config/ and simulator/config.ts; see',
    '# docs/configuration.md. Every variable is optional unless marked required: the defaults run the whole',
    '# system on one machine against the simulator. Each process reads only the ones it needs and stops at',
    '# start-up naming any that is invalid.',
  ];
  for (const variable of variables) {
    const { main, others } = descriptionParts(variable);
    const readBy = `Read by ${list(variable.readBy)}.`;
    const defaults = variable.readBy.map((p) => variable.defaults.get(p));
    const uniform = defaults.every((d) => d === defaults[0]);
    out.push('', ...comment(`${main}${main ? '. ' : ''}${readBy}`));
    for (const [process, text] of others) out.push(...comment(`${process}: ${text}.`));
    if (!uniform) out.push(...comment(`Defaults: ${defaultCell(variable).replace(/`/g, '')}.`));
    const fallback = defaults[0];
    if (typeof fallback === 'string' && fallback !== '' && uniform && !variable.derivedDefault) {
      out.push(`${variable.name}=${fallback}`);
    } else if (fallback === null) out.push(...comment('Required.'), `# ${variable.name}=`);
    else out.push(`# ${variable.name}=${variable.derivedDefault && uniform ? fallback : ''}`);
  }
  out.push('', '# Read outside the process schemas');
  for (const v of OTHER_VARIABLES) {
    out.push('', ...comment(`${v.description.replace(/`/g, '')}. Read by ${v.readBy.replace(/`/g, '')}.`));
    out.push(`# ${v.name}=`);
  }
  return `${out.join('\n')}\n`;
}
