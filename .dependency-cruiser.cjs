/**
 * The layers of the library, enforced by `npm test` (npm run deps). Lowest first; each imports
 * only itself and the layers below it. ARCHITECTURE.md says what lives in each.
 *
 *   src/core       errors, durations, logger, option schemas, batching, PostgreSQL helpers
 *   src/contracts  SlotStore (and the defaults stores share), Backend, task ids, outcome types
 *   slots/*        the stores: memory, Redis, PostgreSQL (one never imports another)
 *   backends/*     the backends: Procrastinate
 *   src/scheduler  the Scheduler and its machinery; it builds the built-in stores
 *   src/service    the service config: a config file read into a Scheduler and its backends
 *   src/http       what a scheduler shows over HTTP: its Prometheus metrics (task-semaphore/http)
 *   src/testing    the published conformance suites
 *   src/cli        the command line, which puts the rest together
 */
const above = (...layers) => `^(${layers.join('|')})/`;

module.exports = {
  forbidden: [
    {
      name: 'resolvable',
      severity: 'error',
      comment: 'An import the cruiser cannot follow is a rule it cannot check.',
      from: {},
      to: { couldNotResolve: true },
    },
    { name: 'no-circular', severity: 'error', comment: 'A cycle makes the layers meaningless.', from: {}, to: { circular: true } },
    {
      name: 'core-is-the-base',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: above('src/contracts', 'slots', 'backends', 'src/scheduler', 'src/service', 'src/http', 'src/testing', 'src/cli') },
    },
    {
      name: 'contracts-need-only-core',
      severity: 'error',
      from: { path: '^src/contracts/' },
      to: { path: above('slots', 'backends', 'src/scheduler', 'src/service', 'src/http', 'src/testing', 'src/cli') },
    },
    {
      name: 'stores-need-only-core-and-contracts',
      severity: 'error',
      from: { path: '^slots/' },
      to: { path: [above('backends', 'src/scheduler', 'src/service', 'src/http', 'src/testing', 'src/cli'), '^src/index\\.ts$'] },
    },
    {
      name: 'a-store-never-reaches-into-another',
      severity: 'error',
      from: { path: '^slots/([^/]+)/' },
      to: { path: '^slots/[^/]+/', pathNot: '^slots/$1/' },
    },
    {
      name: 'backends-need-only-core-and-contracts',
      severity: 'error',
      from: { path: '^backends/' },
      to: { path: [above('slots', 'src/scheduler', 'src/service', 'src/http', 'src/testing', 'src/cli'), '^src/index\\.ts$'] },
    },
    {
      name: 'the-scheduler-knows-no-backend',
      severity: 'error',
      from: { path: '^src/scheduler/' },
      to: { path: [above('backends', 'src/service', 'src/http', 'src/testing', 'src/cli'), '^src/index\\.ts$'] },
    },
    {
      name: 'the-service-sits-below-the-cli',
      severity: 'error',
      comment: 'The service puts the scheduler and the backends together for the CLI; only the CLI uses it.',
      from: { path: '^src/service/' },
      to: { path: [above('src/testing', 'src/cli'), '^src/index\\.ts$'] },
    },
    {
      name: 'http-sits-below-the-cli',
      severity: 'error',
      comment: 'What a scheduler shows over HTTP is built on the scheduler; the CLI may serve it, never the other way.',
      from: { path: '^src/http/' },
      to: { path: [above('src/testing', 'src/cli'), '^src/index\\.ts$'] },
    },
    {
      name: 'the-suites-sit-below-the-cli',
      severity: 'error',
      from: { path: '^src/testing/' },
      to: { path: above('src/service', 'src/cli') },
    },
    {
      name: 'the-library-never-imports-tests',
      severity: 'error',
      from: { path: '^(src|slots|backends)/' },
      to: { path: '^(test|bench|examples|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Package subpaths (tsx/esm/api) resolve through their exports map, as Node resolves them.
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
