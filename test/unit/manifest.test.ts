import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PluginError } from '../../src/errors.ts';
import { FIELD_EXPECTATIONS, readManifest, validateManifest } from '../../src/plugins/manifest.ts';
import { tempDir } from '../helpers/temp.ts';

const VALID = {
  $schema: '../../manifest.schema.json',
  name: 'mailer',
  version: '1.2.0',
  author: 'Ada',
  'author-email': 'ada@example.org',
  description: 'Sends mail.',
  license: 'MIT',
  implements: ['mailer'],
  'loads-after': ['config'],
  requires: ['worker'],
};

/** A plugin folder in a temp dir whose MANIFEST.json holds `content` (a string is written as is). */
function folderWith(content: unknown): string {
  const folder = join(tempDir('manifest-'), 'mailer');
  mkdirSync(folder);
  writeFileSync(join(folder, 'MANIFEST.json'), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return folder;
}

/** The PluginError message `readManifest` throws for a manifest holding `content`. */
function errorFor(content: unknown): { message: string; file: string } {
  const folder = folderWith(content);
  try {
    readManifest(folder);
  } catch (error) {
    expect(error).toBeInstanceOf(PluginError);
    return { message: (error as PluginError).message, file: join(folder, 'MANIFEST.json') };
  }
  throw new Error('expected readManifest to throw');
}

function without(field: string): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...VALID };
  delete copy[field];
  return copy;
}

describe('readManifest', () => {
  it('returns the manifest without $schema', () => {
    const { $schema: _ignored, ...expected } = VALID;
    expect(readManifest(folderWith(VALID))).toEqual(expected);
  });

  it('accepts a manifest with only the required fields', () => {
    const minimal = { name: 'm', version: '0', implements: [], 'loads-after': [], requires: [] };
    expect(readManifest(folderWith(minimal))).toEqual(minimal);
  });

  it('accepts a byte-order mark', () => {
    expect(readManifest(folderWith(`\uFEFF${JSON.stringify(VALID)}`)).name).toBe('mailer');
  });

  it('accepts the manifests of the plugins shipped in plugins/', () => {
    expect(readManifest('plugins/worker').implements).toEqual(['worker']);
    expect(readManifest('plugins/example').implements).toEqual(['example']);
  });

  it('says where the file is not valid JSON, by line and column, and what was expected', () => {
    expect(errorFor('{ "name": "mailer", }').message).toMatch(
      /: not valid JSON at line 1, column 21: expected a property name after ',', found '\}' \(JSON allows no trailing comma\)$/,
    );
    const { message, file } = errorFor('{\n  "name": "mailer",\n  "version": "1.0.0"\n  "implements": []\n}\n');
    expect(message).toBe(`${file}: not valid JSON at line 4, column 3: expected ',' or '}' after a property value, found '"'`);
    // Counted after a byte-order mark, as editors count.
    expect(errorFor('\uFEFF{\n  "name": tru\n}').message).toMatch(/: not valid JSON at line 2, column 11: expected a value .*, found 't'$/);
  });

  it('says when the file cannot be read', () => {
    const folder = join(tempDir('manifest-'), 'mailer');
    mkdirSync(join(folder, 'MANIFEST.json'), { recursive: true });
    expect(() => readManifest(folder)).toThrow(`${join(folder, 'MANIFEST.json')}: cannot read the file: EISDIR`);
  });

  it('names a missing required field', () => {
    const { message, file } = errorFor(without('implements'));
    expect(message).toBe(`${file}: missing required field "implements"`);
  });

  it('names an unknown field and suggests the right spelling', () => {
    const { 'loads-after': loadsAfter, ...rest } = VALID;
    const { message, file } = errorFor({ ...rest, loads_after: loadsAfter });
    expect(message).toBe(`${file}: missing required field "loads-after"; unknown field "loads_after" (did you mean "loads-after"?)`);
  });

  it('names an unknown field with no near miss plainly', () => {
    const { message, file } = errorFor({ ...VALID, homepage: 'https://example.org' });
    expect(message).toBe(`${file}: unknown field "homepage"`);
  });

  it('says a service list must be an array of service names', () => {
    const { message, file } = errorFor({ ...VALID, 'loads-after': 'worker' });
    expect(message).toBe(`${file}: field "loads-after" must be an array of unique, non-empty service names, got "worker"`);
  });

  it('points at a bad item of a service list', () => {
    expect(errorFor({ ...VALID, requires: ['worker', 42] }).message)
      .toContain('field "requires" must be an array of unique, non-empty service names, but item 1 is 42');
    expect(errorFor({ ...VALID, implements: [''] }).message)
      .toContain('field "implements" must be an array of unique, non-empty service names, but item 0 is ""');
  });

  it('names a service listed twice', () => {
    expect(errorFor({ ...VALID, implements: ['mailer', 'mailer'] }).message)
      .toContain('field "implements" must be an array of unique, non-empty service names, but "mailer" is listed twice');
  });

  it('explains what a name may contain', () => {
    expect(errorFor({ ...VALID, name: 'My Mailer' }).message)
      .toContain('field "name" must be a non-empty string of lowercase letters, digits, ".", "_" or "-" that starts with a letter or digit, got "My Mailer"');
  });

  it('reports every bad field, once each', () => {
    const { message, file } = errorFor({ ...without('version'), name: '', requires: null });
    expect(message).toBe([
      `${file}: missing required field "version"`,
      'field "name" must be a non-empty string of lowercase letters, digits, ".", "_" or "-" that starts with a letter or digit, got ""',
      'field "requires" must be an array of unique, non-empty service names, got null',
    ].join('; '));
  });

  it('says when the manifest is not an object', () => {
    const { message, file } = errorFor(['mailer']);
    expect(message).toBe(`${file}: must be a JSON object, got an array`);
  });
});

describe('validateManifest', () => {
  it('names the source it is given', () => {
    expect(() => validateManifest({}, 'somewhere/MANIFEST.json')).toThrow(/^somewhere\/MANIFEST\.json: missing required field "name"/);
  });
});

describe('manifest.schema.json', () => {
  const schema = JSON.parse(readFileSync('manifest.schema.json', 'utf8')) as {
    $schema: string;
    $id: string;
    properties: Record<string, { title?: string; description?: string }>;
    additionalProperties: boolean;
  };

  it('is a draft 2020-12 schema with an $id that refuses unknown fields', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$id).toMatch(/^https:\/\//);
    expect(schema.additionalProperties).toBe(false);
  });

  it('gives every property a title and a description, for editors', () => {
    for (const [name, property] of Object.entries(schema.properties)) {
      expect(property.title, name).toEqual(expect.any(String));
      expect(property.description, name).toEqual(expect.any(String));
    }
  });

  it('lists the same fields as the error messages know', () => {
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(FIELD_EXPECTATIONS).sort());
  });
});
