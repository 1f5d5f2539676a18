/**
 * Reading a config file: JSON, or a JS or TS module whose default export is the config (or a
 * function, possibly async, that returns it).
 */
import { access, readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigFileError, issue } from './errors.js';
import { jsonSyntaxError } from './json-syntax.js';
import { importModule, importProblem } from './modules.js';
import { parseServiceConfig, type ServiceConfig } from './service-config.js';

const moduleExtensions = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'];

/** How many fresh imports of JS config modules this process made: each gets a URL of its own. */
let freshImports = 0;

export interface LoadOptions {
  /**
   * Import a JS config module anew, not the copy Node cached at the first import, so that a
   * reload sees the file as it is now. The modules it imports stay cached; a TypeScript config
   * goes through tsx, which keeps its own cache: a change to it needs a restart.
   */
  fresh?: boolean;
}

/**
 * Reads a config file, replaces its `${NAME}` placeholders from `env`, checks it and loads the
 * modules it names (paths relative to the file's folder). `.json` is JSON; `.js`, `.mjs`, `.cjs`
 * are imported; `.ts`, `.mts`, `.cts` are imported through tsx (`npm install tsx`). A module's
 * default export is the config, or a function of `{ env }` returning it (possibly async).
 * @throws ConfigFileError listing every problem, each line prefixed with `path` (and
 *   `:line:column` for a JSON syntax error)
 */
export async function loadConfigFile(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  options: LoadOptions = {},
): Promise<ServiceConfig> {
  const absolute = resolve(path);
  const context = { baseDir: dirname(absolute), env, source: path };
  const extension = extname(path).toLowerCase();
  const fail = (allowed: string, more: { line?: number; column?: number; cause?: unknown } = {}): never => {
    throw new ConfigFileError(path, [issue({ path: '', allowed, ...more })]);
  };

  if (extension === '.json') {
    let text: string;
    try {
      text = await readFile(absolute, 'utf8');
    } catch (error) {
      return fail(`cannot read the config file: ${(error as Error).message}`, { cause: error });
    }
    const json = text.replace(/^\uFEFF/, '');
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch (error) {
      // Our own scan names the place: JSON.parse's message has no position on some Node versions.
      const { message, line, column } = jsonSyntaxError(json) ?? { message: (error as Error).message, line: 1, column: 1 };
      return fail(`invalid JSON: ${message}`, { line, column, cause: error });
    }
    return { ...(await parseServiceConfig(raw, { ...context, kind: 'json' })), source: absolute };
  }

  if (!moduleExtensions.includes(extension)) {
    return fail(`allowed: a config file ending in .json, ${moduleExtensions.join(', ')}; got "${extension || 'no extension'}"`);
  }
  try {
    await access(absolute);
  } catch (error) {
    return fail(`cannot read the config file: ${(error as Error).message}`, { cause: error });
  }
  let exports: Record<string, unknown>;
  try {
    const fresh = options.fresh === true && ['.js', '.mjs'].includes(extension);
    const specifier = fresh ? `${pathToFileURL(absolute).href}?fresh=${++freshImports}` : absolute;
    exports = await importModule(specifier, context.baseDir, 'a config file');
  } catch (error) {
    return fail(importProblem(absolute, context.baseDir, error), { cause: error });
  }
  if (!('default' in exports)) return fail('the module has no default export; allowed: export default { scheduler, slots, backends, … }');
  let exported = exports.default;
  if (typeof exported === 'function') {
    try {
      exported = await (exported as (context: { env: NodeJS.ProcessEnv }) => unknown)({ env });
    } catch (error) {
      return fail(`the function the module exports threw: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  }
  return { ...(await parseServiceConfig(exported, { ...context, kind: 'module' })), source: absolute };
}
