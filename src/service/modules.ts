/**
 * The modules a config names (handlers, backends, a JS or TS config itself), imported in this
 * process from the config file's folder. TypeScript goes through `tsx`, an optional peer: Node 20
 * cannot import it by itself.
 */
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { importPeer } from '../core/peers.js';

/** A module's exports by name (`default` for the default export). */
export type ModuleExports = Record<string, unknown>;

const typescript = /\.(ts|mts|cts)$/;

/**
 * The file URL of a module named in a config: a path, relative to `baseDir` (the config file's
 * folder) or absolute, or a package name found from `baseDir` as its own imports would find it.
 */
export function moduleUrl(specifier: string, baseDir: string): string {
  if (specifier.startsWith('file:')) return specifier;
  if (specifier.startsWith('.') || isAbsolute(specifier)) return pathToFileURL(resolve(baseDir, specifier)).href;
  return pathToFileURL(createRequire(join(baseDir, 'config.js')).resolve(specifier)).href;
}

/**
 * Imports a module named in a config. A `.ts`, `.mts` or `.cts` file goes through tsx's
 * `tsImport`, which compiles it on the fly through Node's module hooks, for this import only.
 * @param neededBy - what imports it, for the error when tsx is missing
 * @throws whatever resolving or evaluating the module throws; MissingPeerError when tsx is needed and not installed
 */
export async function importModule(specifier: string, baseDir: string, neededBy: string): Promise<ModuleExports> {
  const url = moduleUrl(specifier, baseDir);
  if (typescript.test(fileURLToPath(url))) {
    const { tsImport } = await importPeer('tsx/esm/api', `${neededBy} in TypeScript`);
    return esModuleInterop((await tsImport(url, import.meta.url)) as ModuleExports);
  }
  return esModuleInterop((await import(url)) as ModuleExports);
}

/**
 * A CommonJS module compiled from ESM (by tsc, or by tsx for a `.ts` file outside a
 * `"type": "module"` package) arrives with its exports under `default`, marked `__esModule`:
 * those are its real exports.
 */
function esModuleInterop(exports: ModuleExports): ModuleExports {
  const inner = exports.default as ModuleExports | undefined;
  return typeof inner === 'object' && inner !== null && inner.__esModule === true ? inner : exports;
}

/** What went wrong importing a module, for an issue: the file (or package) and the reason. */
export function importProblem(specifier: string, baseDir: string, error: unknown): string {
  let where: string;
  try {
    where = fileURLToPath(moduleUrl(specifier, baseDir));
  } catch {
    where = specifier;
  }
  if (error instanceof Error && (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' && error.message.includes(`'${where}'`)) {
    return `cannot import ${where}: no such file`;
  }
  // Where a missing module was imported from says something only when it is not this loader.
  const message =
    error instanceof Error ? error.message.split('\n')[0]!.replace(/ imported from \S*\/service\/modules\.js$/, '') : String(error);
  const named = error instanceof Error && error.name !== 'Error' ? `${error.name}: ` : '';
  return `cannot import ${where}: ${named}${message}`;
}
