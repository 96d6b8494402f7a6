#!/usr/bin/env node
// Validates an AsyncAPI document with the official parser, @asyncapi/parser.
//
//   npm ci --prefix deploy/asyncapi
//   node deploy/asyncapi/validate.mjs govhub.asyncapi.json
//
// Prints every diagnostic of the parser (errors and warnings; information and hints are
// counted) and exits 1 if there is an error. The parser validates the document against
// the AsyncAPI 3 specification and its rules, but leaves payload schemas in formats it has
// no parser for alone. govhub's payloads are JSON Schema 2020-12, so this script also:
//   - checks each against the 2020-12 meta-schema and compiles it with Ajv (strict mode):
//     a `$ref` to anything outside the schema fails here, so the document must be
//     self-contained;
//   - validates every message example against its message's payload and headers schemas;
//   - with --events FILE, validates real events too: FILE has one JSON object per line with
//     topic, headers and value (what `govhub tail --format json` prints); each must match
//     one of the messages of the channel whose address is its topic.
// Exit codes: 0 valid, 1 invalid, 2 usage or unreadable file.

import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';
import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const DRAFT_2020_12 = [
  'application/schema+json;version=draft-2020-12',
  'application/schema;version=draft-2020-12',
];

// govhub checks these with their real algorithms before publishing; here any string is
// accepted. A format the standard adds must be listed here too (strict mode refuses
// unknown formats), which is deliberate: the document names it for consumers.
const GOVHUB_FORMATS = ['cn-resident-id', 'cn-uscc', 'cn-division-code', 'cn-mobile'];

function newAjv(Class) {
  const ajv = new Class({ strict: true, strictTypes: false, allErrors: true });
  addFormats(ajv);
  for (const format of GOVHUB_FORMATS) ajv.addFormat(format, true);
  return ajv;
}

const ajv2020 = newAjv(Ajv2020);
// AsyncAPI Schema Objects (the headers) are a superset of JSON Schema draft-07.
const ajv07 = newAjv(Ajv);

const compiled = new Map();
function compile(ajv, schema) {
  if (!compiled.has(schema)) compiled.set(schema, ajv.compile(schema));
  return compiled.get(schema);
}

// Registered so the parser knows the format; it keeps the schema as it is.
const draft202012Parser = {
  getMimeTypes: () => DRAFT_2020_12,
  async validate(input) {
    try {
      compile(ajv2020, input.data);
      return [];
    } catch (e) {
      return [{ message: e.message, path: input.path }];
    }
  },
  async parse(input) {
    return input.data;
  },
};

const args = process.argv.slice(2);
let eventsFile;
const at = args.indexOf('--events');
if (at >= 0) {
  eventsFile = args[at + 1];
  args.splice(at, 2);
}
const file = args[0];
if (!file || args.length !== 1 || (at >= 0 && !eventsFile)) {
  console.error('usage: node validate.mjs ASYNCAPI_DOCUMENT [--events EVENTS.jsonl]');
  process.exit(2);
}
let text;
try {
  text = await readFile(file, 'utf8');
} catch (e) {
  console.error(`${file}: cannot read: ${e.message}`);
  process.exit(2);
}

const SEVERITY = ['error', 'warning', 'information', 'hint'];
let errors = 0;
let warnings = 0;
const quiet = { information: 0, hint: 0 };

function report(severity, where, message) {
  if (severity === 'error') errors += 1;
  if (severity === 'warning') warnings += 1;
  if (severity in quiet) {
    quiet[severity] += 1;
    return;
  }
  console.log(`${severity}: ${where}: ${message}`);
}

const parser = new Parser();
parser.registerSchemaParser(draft202012Parser);
const { document, diagnostics } = await parser.parse(text, { source: file });
for (const d of diagnostics) {
  const where = (d.path ?? []).join('/') || '(document)';
  report(SEVERITY[d.severity] ?? `severity ${d.severity}`, where, `${d.code}: ${d.message}`);
}
if (!document) {
  report('error', '(document)', 'the parser returned no document');
}

// Our own checks run on the document as written.
const raw = JSON.parse(text);

function resolve(node) {
  let seen = 0;
  while (node && typeof node === 'object' && typeof node.$ref === 'string') {
    if (!node.$ref.startsWith('#/') || (seen += 1) > 16) return undefined;
    node = node.$ref
      .slice(2)
      .split('/')
      .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
      .reduce((at, key) => (at === undefined ? undefined : at[key]), raw);
  }
  return node;
}

// A Multi Format Schema Object or a Schema Object → [ajv, schema].
function schemaOf(node) {
  const schema = resolve(node);
  if (schema && typeof schema === 'object' && 'schemaFormat' in schema) {
    if (DRAFT_2020_12.includes(schema.schemaFormat)) return [ajv2020, resolve(schema.schema)];
    return [undefined, undefined];
  }
  return [ajv07, schema];
}

function checkSchema(where, ajv, schema) {
  if (ajv === ajv2020 && !ajv.validateSchema(schema)) {
    report('error', where, `not a valid JSON Schema 2020-12: ${ajv.errorsText(ajv.errors)}`);
    return undefined;
  }
  try {
    return compile(ajv, schema);
  } catch (e) {
    report('error', where, `does not compile: ${e.message}`);
    return undefined;
  }
}

for (const [name, node] of Object.entries(raw.components?.schemas ?? {})) {
  const [ajv, schema] = schemaOf(node);
  if (ajv === ajv2020) checkSchema(`components/schemas/${name}`, ajv, schema);
}

let examples = 0;
const validators = new Map(); // message object → { payload, headers } validate functions
for (const [name, message] of Object.entries(raw.components?.messages ?? {})) {
  const where = `components/messages/${name}`;
  const [payloadAjv, payload] = message.payload ? schemaOf(message.payload) : [];
  const [headersAjv, headers] = message.headers ? schemaOf(message.headers) : [];
  const validatePayload = payloadAjv && checkSchema(`${where}/payload`, payloadAjv, payload);
  const validateHeaders = headersAjv && checkSchema(`${where}/headers`, headersAjv, headers);
  validators.set(message, { name, payload: validatePayload, headers: validateHeaders });
  (message.examples ?? []).forEach((example, i) => {
    examples += 1;
    const at = `${where}/examples/${i}`;
    if (example.payload !== undefined && validatePayload && !validatePayload(example.payload)) {
      report('error', `${at}/payload`, ajv2020.errorsText(validatePayload.errors));
    }
    if (example.headers !== undefined && validateHeaders && !validateHeaders(example.headers)) {
      report('error', `${at}/headers`, ajv07.errorsText(validateHeaders.errors));
    }
  });
}

let events = 0;
if (eventsFile) {
  let lines;
  try {
    lines = (await readFile(eventsFile, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  } catch (e) {
    console.error(`${eventsFile}: cannot read: ${e.message}`);
    process.exit(2);
  }
  const channelsByAddress = new Map();
  for (const [id, channel] of Object.entries(raw.channels ?? {})) {
    const messages = Object.values(channel.messages ?? {}).map(resolve);
    channelsByAddress.set(channel.address, { id, messages });
  }
  let shown = 0;
  lines.forEach((line, i) => {
    events += 1;
    const where = `${eventsFile}:${i + 1}`;
    let event;
    try {
      event = JSON.parse(line);
    } catch (e) {
      report('error', where, `not JSON: ${e.message}`);
      return;
    }
    const channel = channelsByAddress.get(event.topic);
    if (!channel) {
      report('error', where, `no channel has the address ${JSON.stringify(event.topic)}`);
      return;
    }
    const failures = [];
    for (const message of channel.messages) {
      const v = validators.get(message);
      if (!v) continue;
      const problems = [];
      if (v.headers && !v.headers(event.headers ?? {})) problems.push(`headers: ${ajv07.errorsText(v.headers.errors)}`);
      if (v.payload && !v.payload(event.value)) problems.push(`payload: ${ajv2020.errorsText(v.payload.errors)}`);
      if (problems.length === 0) return;
      failures.push(`${v.name}: ${problems.join('; ')}`);
    }
    // Only positions and schema paths are printed, never values (they may be personal
    // data); the first 20 failing events are shown, all are counted.
    shown += 1;
    if (shown <= 20) {
      report('error', `${where} (topic ${event.topic}, offset ${event.offset})`, `matches no message of channel ${channel.id}: ${failures.join(' | ')}`);
    } else {
      errors += 1;
    }
  });
}

const channels = Object.keys(raw.channels ?? {}).length;
console.log(
  `${file}: AsyncAPI ${raw.asyncapi}, ${channels} channel(s), ${examples} example(s)` +
    (eventsFile ? ` and ${events} event(s)` : '') +
    ' checked; ' +
    `${errors} error(s), ${warnings} warning(s), ${quiet.information} information, ${quiet.hint} hint(s)`,
);
process.exit(errors > 0 ? 1 : 0);
