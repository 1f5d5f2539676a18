/**
 * The JSON syntax scanner that places a config file's syntax error: it accepts exactly what
 * JSON.parse accepts, and names the line and column of the first offending character.
 */
import test from 'ava';
import fc from 'fast-check';
import { jsonSyntaxError } from '../../src/service/json-syntax.js';

const parses = (text: string) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

test('it agrees with JSON.parse on JSON texts and on texts one edit away from them', (t) => {
  const edited = fc
    .tuple(fc.json(), fc.nat(), fc.constantFrom('', ',', ']', '}', '"', ':', '\\', '\n', 'x', '0', '-', '\u0001', ' '), fc.boolean())
    .map(([json, at, char, replace]) => {
      const i = at % (json.length + 1);
      return json.slice(0, i) + char + json.slice(replace ? i + 1 : i);
    });
  fc.assert(
    fc.property(fc.oneof(fc.json(), edited), (text) => (jsonSyntaxError(text) === null) === parses(text)),
    { numRuns: 3000 },
  );
  t.pass();
});

test('it names the line and column of the first offending character, and why', (t) => {
  t.deepEqual(jsonSyntaxError('{\n  "a": 1,\n}'), {
    message: `unexpected "}" after ','; a trailing comma is not JSON`,
    line: 3,
    column: 1,
  });
  t.deepEqual(jsonSyntaxError('{"a" 1}'), { message: `unexpected "1"; expected ':' after a property name`, line: 1, column: 6 });
  t.deepEqual(jsonSyntaxError("{'a': 1}"), { message: `unexpected "'"; expected a property name in double quotes`, line: 1, column: 2 });
  t.deepEqual(jsonSyntaxError('[1 2]'), { message: `unexpected "2"; expected ',' or ']'`, line: 1, column: 4 });
  t.deepEqual(jsonSyntaxError('{"a": "x'), { message: 'unexpected end of file in a string', line: 1, column: 9 });
  t.deepEqual(jsonSyntaxError('{} {}'), { message: 'unexpected "{" after the end of the JSON value', line: 1, column: 4 });
  t.deepEqual(jsonSyntaxError(''), { message: 'unexpected end of file', line: 1, column: 1 });
  t.is(jsonSyntaxError(' {"a": [1, -2.5e3, true, null, "\\u00e9\\n"]} '), null);
});
