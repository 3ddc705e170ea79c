import { describe, expect, it } from 'vitest';
import { findJsonSyntaxError } from '../../src/text/json-syntax.ts';

describe('findJsonSyntaxError', () => {
  it.each([
    ['{"a":1,"b":[true,false,null,-1.5e3,"\\u00e9\\n"]}'],
    ['  [ ]  '],
    ['"text"'],
    ['[[[[{"a":[1,{"b":{}}]}]]]]'],
  ])('finds nothing wrong in %s', (text) => {
    expect(findJsonSyntaxError(text)).toBeUndefined();
  });

  it.each([
    ['{\n  "name": "x"\n  "version": "1"\n}', 3, 3, `expected ',' or '}' after a property value, found '"'`],
    ['{ "name": "mailer", }', 1, 21, `expected a property name after ',', found '}' (JSON allows no trailing comma)`],
    ['[1,2,]', 1, 6, `expected a value after ',', found ']' (JSON allows no trailing comma)`],
    ['{ "name": ', 1, 11, 'expected a value (a string in double quotes, a number, true, false, null, an object or an array), found the end of the text'],
    ['{name: 1}', 1, 2, `expected a property name in double quotes, found 'n'`],
    ["{'a': 1}", 1, 2, `expected a property name in double quotes, found "'"`],
    ['{"a" 1}', 1, 6, `expected ':' after the property name, found '1'`],
    ['{"a":1}}', 1, 8, `expected the end of the text after the JSON value, found '}'`],
    ['\r\n{\r\n "a": x}', 3, 7, 'expected a value (a string in double quotes, a number, true, false, null, an object or an array), found \'x\''],
    ['{"a": "x\ny"}', 1, 9, `a string holds a raw control character ('\\n'): write it escaped, e.g. \\n`],
    ['"\\x"', 1, 2, `invalid escape '\\x' in a string: JSON knows \\" \\\\ \\/ \\b \\f \\n \\r \\t and \\u followed by four hex digits`],
    ['[1,\n  "abc', 2, 3, 'the string that starts here is not closed: no closing double quote before the end of the text'],
    ['-', 1, 1, `expected a number, found '-'`],
  ])('places the error in %j at line %i, column %i', (text, line, column, problem) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(findJsonSyntaxError(text)).toEqual({ line, column, problem });
  });

  it('copes with nesting deeper than a call stack', () => {
    expect(findJsonSyntaxError('['.repeat(200_000))).toMatchObject({ line: 1, column: 200_001 });
  });
});
