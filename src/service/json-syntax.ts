/**
 * Where a JSON text stops being JSON, and why: `JSON.parse` says so in words that vary by Node
 * version, some without a position at all ("Unexpected token ']', ..."). This scanner finds the
 * first offending character itself, so that every error names its line and column.
 */

/** The first syntax error of `text`, or null when it is JSON. Line and column are 1-based. */
export function jsonSyntaxError(text: string): { message: string; line: number; column: number } | null {
  let at = 0;
  const fail = (message: string): never => {
    throw new SyntaxProblem(message, at);
  };
  const blank = () => {
    while (at < text.length && ' \t\n\r'.includes(text[at]!)) at++;
  };
  const found = () => (at < text.length ? `unexpected ${JSON.stringify(text[at])}` : 'unexpected end of file');
  const literal = (word: string) => {
    if (text.startsWith(word, at)) at += word.length;
    else fail(found());
  };
  const string = () => {
    at++; // the opening quote
    while (at < text.length && text[at] !== '"') {
      const char = text[at]!;
      if (char < ' ') fail(`${found()} in a string (control characters must be escaped)`);
      if (char === '\\') {
        at++;
        if (/^u[0-9a-fA-F]{4}/.test(text.slice(at, at + 5))) at += 5;
        else if (at < text.length && '"\\/bfnrt'.includes(text[at]!)) at++;
        else fail(`${found()} after a backslash in a string`);
      } else {
        at++;
      }
    }
    if (at >= text.length) fail('unexpected end of file in a string');
    at++;
  };
  const number = () => {
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(at));
    if (!match) fail(found());
    at += match![0].length;
  };
  const value = (): void => {
    blank();
    const char = text[at];
    if (char === '{')
      return members('}', () => {
        if (text[at] !== '"') fail(`${found()}; expected a property name in double quotes`);
        string();
        blank();
        if (text[at] !== ':') fail(`${found()}; expected ':' after a property name`);
        at++;
        value();
      });
    if (char === '[') return members(']', value);
    if (char === '"') return string();
    if (char === 't') return literal('true');
    if (char === 'f') return literal('false');
    if (char === 'n') return literal('null');
    if (char === '-' || (char !== undefined && char >= '0' && char <= '9')) return number();
    fail(found());
  };
  /** An object's or array's members, `each` reading one, up to `close`. */
  const members = (close: string, each: () => void) => {
    at++;
    blank();
    if (text[at] === close) return void at++;
    for (;;) {
      blank();
      each();
      blank();
      if (text[at] === ',') {
        at++;
        blank();
        if (text[at] === close) fail(`unexpected ${JSON.stringify(close)} after ','; a trailing comma is not JSON`);
        continue;
      }
      if (text[at] === close) return void at++;
      fail(`${found()}; expected ',' or '${close}'`);
    }
  };

  try {
    value();
    blank();
    if (at < text.length) fail(`${found()} after the end of the JSON value`);
    return null;
  } catch (error) {
    if (!(error instanceof SyntaxProblem)) throw error;
    const before = text.slice(0, error.offset);
    const line = before.split('\n').length;
    return { message: error.message, line, column: error.offset - before.lastIndexOf('\n') };
  }
}

class SyntaxProblem extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
  }
}
