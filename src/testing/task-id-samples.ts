/**
 * Task ids at the edges of the task-id grammar, shared by the store and scheduler conformance
 * suites so that every store is held to the same rule.
 */
import { maxTaskIdBytes } from '../contracts/task-id.js';

/** Ids every store must take and give back unchanged. */
export const goodTaskIds: ReadonlyArray<{ label: string; taskId: string }> = [
  { label: `exactly ${maxTaskIdBytes} ASCII bytes`, taskId: 'a'.repeat(maxTaskIdBytes) },
  { label: `exactly ${maxTaskIdBytes} bytes of 4-byte characters`, taskId: '😀'.repeat(maxTaskIdBytes / 4) },
  { label: `exactly ${maxTaskIdBytes} bytes of 3-byte characters and one ASCII`, taskId: `${'€'.repeat((maxTaskIdBytes - 1) / 3)}a` },
  // Text that means something to SQL, Lua, Redis or JSON must arrive as plain text.
  { label: 'SQL metacharacters', taskId: `'; DROP TABLE slots; -- "x" $1 \\ %_` },
  { label: 'Lua pattern characters', taskId: '%a+.*[^]-?()%%$^' },
  { label: 'Redis hash-tag braces', taskId: '{other}:task}{' },
  { label: 'JSON of an event', taskId: '{"type":"cancel","taskId":"x","token":1}' },
  { label: 'whitespace only', taskId: ' \t\n\r\u00a0' },
  { label: 'combining, joined and right-to-left characters', taskId: 'e\u0301 👩‍👩‍👧 \u202eabc 𝕏' },
];

/** Ids every store must refuse, and what the error says of each. */
export const badTaskIds: ReadonlyArray<{ label: string; taskId: string; problem: RegExp }> = [
  { label: '3 kB', taskId: 'x'.repeat(3000), problem: /3000 UTF-8 bytes/ },
  { label: 'one byte over the maximum in 4-byte characters', taskId: `${'😀'.repeat(maxTaskIdBytes / 4)}a`, problem: /UTF-8 bytes/ },
  { label: 'a NUL', taskId: 'task\u0000id', problem: /NUL/ },
  { label: 'a lone surrogate', taskId: 'task\ud800id', problem: /surrogate/ },
  { label: 'a lone low surrogate at the end', taskId: 'task\udc00', problem: /surrogate/ },
];
