import { readFileSync } from 'node:fs';
import { join } from 'node:path';
// The named export, not the default: ajv's .d.ts declares `export default`
// on a CommonJS module, which under NodeNext types the default import as the
// whole module object (not constructable). The named export is the same class.
import { Ajv2020, type DefinedError, type ValidateFunction } from 'ajv/dist/2020.js';
import manifestSchema from '../../manifest.schema.json' with { type: 'json' };
import { didYouMean } from '../text/did-you-mean.ts';
import { findJsonSyntaxError } from '../text/json-syntax.ts';
import { PluginError } from '../errors.ts';

/** The file that makes a folder a plugin. */
export const MANIFEST_FILE = 'MANIFEST.json';

/** A plugin's MANIFEST.json, validated against `manifest.schema.json`. */
export interface Manifest {
  name: string;
  version: string;
  author?: string;
  'author-email'?: string;
  description?: string;
  license?: string;
  /** Services the plugin registers during `setup()`. */
  implements: string[];
  /** Services whose plugins must be set up before this one. */
  'loads-after': string[];
  /** Services that must exist, in any order. */
  requires: string[];
}

/** Every field a manifest may have: the schema's properties. */
export type ManifestField = keyof Manifest | '$schema';

/**
 * What each field must hold, in the words error messages use. The schema says
 * the same in JSON; a unit test checks both list the same fields.
 */
export const FIELD_EXPECTATIONS: Readonly<Record<ManifestField, string>> = {
  $schema: 'a string (the path or URL of manifest.schema.json)',
  name: 'a non-empty string of lowercase letters, digits, ".", "_" or "-" that starts with a letter or digit',
  version: 'a non-empty string',
  author: 'a string',
  'author-email': 'a string',
  description: 'a string',
  license: 'a string',
  implements: 'an array of unique, non-empty service names',
  'loads-after': 'an array of unique, non-empty service names',
  requires: 'an array of unique, non-empty service names',
};

/**
 * Reads and validates `folder/MANIFEST.json`. Messages name the file as
 * `join(folder, 'MANIFEST.json')`, so pass the folder spelled the way the
 * user should read it (e.g. relative to the working directory).
 * @throws PluginError if the file cannot be read, is not JSON, or breaks the schema.
 */
export function readManifest(folder: string): Manifest {
  const file = join(folder, MANIFEST_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new PluginError(`${file}: cannot read the file: ${messageOf(error)}`, { cause: error });
  }
  // Some editors on Windows save a byte-order mark, which JSON.parse refuses.
  const json = text.replace(/^\uFEFF/, '');
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    // Lines and columns, as editors count them: JSON.parse gives a character position at best.
    const at = findJsonSyntaxError(json);
    const where = at === undefined ? `: ${messageOf(error)}` : ` at line ${at.line}, column ${at.column}: ${at.problem}`;
    throw new PluginError(`${file}: not valid JSON${where}`, { cause: error });
  }
  return validateManifest(value, file);
}

/**
 * Checks a parsed manifest against the schema and returns a clean copy
 * (without `$schema`, which only editors use).
 * @param source How messages name the manifest, e.g. `plugins/foo/MANIFEST.json`.
 * @throws PluginError naming `source` and every offending field, e.g.
 *   `plugins/foo/MANIFEST.json: unknown field "loads_after" (did you mean "loads-after"?)`.
 */
export function validateManifest(value: unknown, source: string): Manifest {
  const validate = validator();
  if (!validate(value)) {
    // With allErrors, ajv can report one field several times (e.g. pattern and
    // minLength on ""); the first report per field is the useful one.
    const byField = new Map<string, string>();
    for (const error of (validate.errors ?? []) as DefinedError[]) {
      const { key, text } = describeError(error, value);
      if (!byField.has(key)) byField.set(key, text);
    }
    throw new PluginError(`${source}: ${[...byField.values()].join('; ')}`);
  }
  const copy: Manifest = {
    name: value.name,
    version: value.version,
    implements: [...value.implements],
    'loads-after': [...value['loads-after']],
    requires: [...value.requires],
  };
  for (const field of ['author', 'author-email', 'description', 'license'] as const) {
    const text = value[field];
    if (text !== undefined) copy[field] = text;
  }
  return copy;
}

let compiled: ValidateFunction<Manifest> | undefined;

// Compiled on first use, so importing this module stays cheap.
function validator(): ValidateFunction<Manifest> {
  compiled ??= new Ajv2020({ allErrors: true, strict: true }).compile<Manifest>(manifestSchema);
  return compiled;
}

/** One readable sentence for one ajv error, keyed by the field it is about. */
function describeError(error: DefinedError, manifest: unknown): { key: string; text: string } {
  if (error.keyword === 'required') {
    const field = error.params.missingProperty;
    return { key: field, text: `missing required field "${field}"` };
  }
  if (error.keyword === 'additionalProperties') {
    const field = error.params.additionalProperty;
    return { key: field, text: `unknown field "${field}"${didYouMean(field, Object.keys(FIELD_EXPECTATIONS))}` };
  }
  const [field, item] = pointerSegments(error.instancePath);
  if (field === undefined) {
    return { key: '', text: `must be a JSON object, got ${describeValue(manifest)}` };
  }
  const expected = isManifestField(field) ? FIELD_EXPECTATIONS[field] : 'valid';
  const value = isRecord(manifest) ? manifest[field] : undefined;
  let problem: string;
  if (error.keyword === 'uniqueItems' && Array.isArray(value)) {
    problem = `but ${describeValue(value[error.params.j])} is listed twice`;
  } else if (item !== undefined && Array.isArray(value)) {
    problem = `but item ${item} is ${describeValue(value[Number(item)])}`;
  } else {
    problem = `got ${describeValue(value)}`;
  }
  return { key: field, text: `field "${field}" must be ${expected}, ${problem}` };
}

/** `/loads-after/0` → `['loads-after', '0']`, undoing JSON Pointer escapes. */
function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer.slice(1).split('/').map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** A short rendering of a JSON value for messages: strings quoted, containers by kind. */
function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    return value.length > 60 ? `${JSON.stringify(value.slice(0, 57))}…` : JSON.stringify(value);
  }
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return 'an object';
  return String(value);
}

function isManifestField(field: string): field is ManifestField {
  return Object.hasOwn(FIELD_EXPECTATIONS, field);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
