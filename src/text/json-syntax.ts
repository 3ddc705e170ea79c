/**
 * Where JSON text goes wrong, as a person looks for it: line and column.
 * JSON.parse reports a character position at best (`in JSON at position
 * 118`), and for an unexpected token only a copy of the text; people and
 * their editors count lines. This scanner is used only once JSON.parse has
 * refused the text, to say where and why.
 */

/** The first syntax error in JSON text. */
export interface JsonSyntaxError {
  /** 1-based. */
  readonly line: number;
  /** 1-based, in characters. */
  readonly column: number;
  /** What was expected and what was found, e.g. `expected ',' or '}' after a property value, found '"'`. */
  readonly problem: string;
}

/**
 * The first syntax error in `text`, or undefined if it is valid JSON.
 * @example findJsonSyntaxError('{\n  "a": 1\n  "b": 2\n}') → { line: 3, column: 3, problem: `expected ',' or '}' after a property value, found '"'` }
 */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  const found = new Scanner(text).scan();
  return found === undefined ? undefined : { ...lineAndColumn(text, found.offset), problem: found.problem };
}

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const NUMBER_START = /[-0-9]/;

type Container = 'object' | 'array';

/** A JSON grammar walk with an explicit stack, so no nesting depth overflows it. */
class Scanner {
  readonly #text: string;
  #at = 0;
  readonly #open: Container[] = [];

  constructor(text: string) {
    this.#text = text;
  }

  scan(): { offset: number; problem: string } | undefined {
    for (;;) {
      const problem = this.#value() ?? this.#afterValues();
      if (problem === undefined) return undefined;
      if (problem !== NEXT_VALUE) return { offset: this.#at, problem };
    }
  }

  /** One value, or the start of an array or object (pushed on the stack). */
  #value(): string | undefined {
    this.#skipWhitespace();
    const c = this.#text[this.#at];
    if (c === '{') {
      this.#at++;
      this.#skipWhitespace();
      if (this.#text[this.#at] === '}') {
        this.#at++;
        return undefined;
      }
      this.#open.push('object');
      return this.#member();
    }
    if (c === '[') {
      this.#at++;
      this.#skipWhitespace();
      if (this.#text[this.#at] === ']') {
        this.#at++;
        return undefined;
      }
      this.#open.push('array');
      return NEXT_VALUE;
    }
    if (c === '"') return this.#string();
    if (c !== undefined && NUMBER_START.test(c)) {
      NUMBER.lastIndex = this.#at;
      const match = NUMBER.exec(this.#text);
      if (match === null || match[0] === '-') return `expected a number, found ${this.#found()}`;
      this.#at += match[0].length;
      return undefined;
    }
    for (const literal of ['true', 'false', 'null']) {
      if (this.#text.startsWith(literal, this.#at)) {
        this.#at += literal.length;
        return undefined;
      }
    }
    return `expected a value (a string in double quotes, a number, true, false, null, an object or an array), found ${this.#found()}`;
  }

  /** A property name and its colon; the value comes next. */
  #member(): string {
    this.#skipWhitespace();
    if (this.#text[this.#at] !== '"') return `expected a property name in double quotes, found ${this.#found()}`;
    const problem = this.#string();
    if (problem !== undefined) return problem;
    this.#skipWhitespace();
    if (this.#text[this.#at] !== ':') return `expected ':' after the property name, found ${this.#found()}`;
    this.#at++;
    return NEXT_VALUE;
  }

  /** After a complete value: a comma and the next one, the end of its container, or the end of the text. */
  #afterValues(): string | undefined {
    for (;;) {
      this.#skipWhitespace();
      const container = this.#open.at(-1);
      if (container === undefined) {
        return this.#at === this.#text.length ? undefined : `expected the end of the text after the JSON value, found ${this.#found()}`;
      }
      const close = container === 'object' ? '}' : ']';
      const c = this.#text[this.#at];
      if (c === close) {
        this.#at++;
        this.#open.pop();
        continue;
      }
      const after = container === 'object' ? 'a property value' : 'an array item';
      if (c !== ',') return `expected ',' or '${close}' after ${after}, found ${this.#found()}`;
      this.#at++;
      this.#skipWhitespace();
      // JSON has no trailing commas: say so where one is.
      if (this.#text[this.#at] === close) return `expected ${container === 'object' ? 'a property name' : 'a value'} after ',', found '${close}' (JSON allows no trailing comma)`;
      return container === 'object' ? this.#member() : NEXT_VALUE;
    }
  }

  #string(): string | undefined {
    const start = this.#at;
    this.#at++; // the opening quote
    for (;;) {
      const c = this.#text[this.#at];
      if (c === undefined) {
        // Where it starts is what a person needs: its end is the end of the file.
        this.#at = start;
        return 'the string that starts here is not closed: no closing double quote before the end of the text';
      }
      if (c === '"') {
        this.#at++;
        return undefined;
      }
      if (c < ' ') return `a string holds a raw control character (${quoted(c)}): write it escaped, e.g. \\n`;
      if (c === '\\') {
        const next = this.#text[this.#at + 1];
        if (next === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.#text.slice(this.#at + 2, this.#at + 6))) return 'expected four hex digits after \\u';
          this.#at += 6;
          continue;
        }
        if (next === undefined || !ESCAPES.has(next)) return `invalid escape '\\${next ?? ''}' in a string: JSON knows \\" \\\\ \\/ \\b \\f \\n \\r \\t and \\u followed by four hex digits`;
        this.#at += 2;
        continue;
      }
      this.#at++;
    }
  }

  #skipWhitespace(): void {
    while (WHITESPACE.has(this.#text[this.#at] ?? '')) this.#at++;
  }

  #found(): string {
    const c = this.#text[this.#at];
    return c === undefined ? 'the end of the text' : quoted(c);
  }
}

/** A character as messages show it: `'x'`, `'"'`, `'\n'`, `"'"`. */
function quoted(c: string): string {
  return c === "'" ? `"'"` : `'${JSON.stringify(c).slice(1, -1).replace(/\\"/g, '"')}'`;
}

/** "Go on with the next value": not a problem. */
const NEXT_VALUE = '\u0000next value';

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    const c = text[i];
    if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
