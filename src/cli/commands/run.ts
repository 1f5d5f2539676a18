/**
 * `run --config FILE`: a scheduler process. SIGINT/SIGTERM shut it down gracefully (a second one
 * aborts the running tasks at once), SIGHUP re-reads the config file.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { HttpOptions } from '../../http/index.js';
import { logLevels, type LogLevel } from '../../service/config-schema.js';
import type { LogFormat } from '../../service/service-logger.js';
import { Service } from '../../service/service.js';
import { ConfigError } from '../../core/errors.js';
import { exitCodes, type ExitCode } from '../exit-codes.js';
import { reportError, type Output } from '../output.js';

interface RunFlags {
  config: string;
  untilDrained?: boolean;
  logLevel?: LogLevel;
  logFormat?: LogFormat;
  http?: HttpOptions | false;
  httpToken?: string;
}

/** `--http [host:]port`: where the endpoint listens, over the file's http section. */
function httpArgument(value: string): HttpOptions {
  const match = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(value);
  if (!match || Number(match[2]) > 65535) {
    throw new InvalidArgumentError('allowed: a port (9478), or host:port (0.0.0.0:9478, [::1]:9478)');
  }
  const host = match[1]?.replace(/^\[(.*)\]$/, '$1');
  return { port: Number(match[2]), ...(host !== undefined && { host }) };
}

export function addRunCommand(program: Command, output: Output, done: (code: ExitCode) => void): void {
  program
    .command('run')
    .description('run a scheduler from a config file until SIGINT/SIGTERM (graceful shutdown); SIGHUP reloads the file')
    .addOption(
      new Option('--config <file>', 'the config file (JSON, or a JS/TS module)').env('TASK_SEMAPHORE_CONFIG').makeOptionMandatory(),
    )
    .option('--until-drained', 'exit once no backend has work and no task of this scheduler runs')
    .addOption(new Option('--log-level <level>', "log level, over the file's log.level").choices(logLevels))
    .addOption(
      new Option('--log-format <format>', "json or text, over the file's log.format (default: text on a terminal, else json)").choices([
        'json',
        'text',
      ]),
    )
    .option(
      '--http <[host:]port>',
      "serve the HTTP endpoint (health, metrics, board, task control) here, over the file's http section",
      httpArgument,
    )
    .option('--no-http', "keep the HTTP endpoint off, whatever the file's http section says")
    .addOption(
      new Option('--http-token <token>', 'the bearer token of the task control routes, over http.token').env('TASK_SEMAPHORE_HTTP_TOKEN'),
    )
    .addHelpText(
      'after',
      `
Signals:
  SIGINT, SIGTERM  stop claiming; wait for in-process tasks up to shutdown.graceful; abort the
                   rest (cause shutdown); drop those still running after shutdown.final; exit.
                   A second signal aborts at once.
  SIGHUP           re-read the config file: new slots claim, removed slots drain; an invalid
                   file keeps the running config and logs every error.
Exit codes of run:
  0  stopped cleanly: drained, or shut down with every in-process task ended
  1  could not start (a store unreachable), or closing failed
  2  the config file or the options are invalid
  6  shut down, but in-process tasks ignored the abort and were dropped`,
    )
    .action(async (flags: RunFlags) => done(await run(flags, output)));
}

/** What the flags change of the file's http section: off, where, and the token (used once it is on). */
function httpOverrides(flags: RunFlags): { http?: HttpOptions | false; httpToken?: string } {
  return {
    ...(flags.http !== undefined && { http: flags.http }),
    // An empty TASK_SEMAPHORE_HTTP_TOKEN counts as none.
    ...(flags.httpToken ? { httpToken: flags.httpToken } : {}),
  };
}

async function run(flags: RunFlags, output: Output): Promise<ExitCode> {
  // The handlers go in before the start, so that a signal while the file is read and the stores
  // open neither kills the process (SIGHUP's default) nor leaves tasks it started behind.
  let service: Service | undefined;
  const signals: NodeJS.Signals[] = [];
  let reloadAsked = false;
  let stopAsked!: () => void;
  const stopped = new Promise<void>((resolve) => (stopAsked = resolve));
  const onStop = (signal: NodeJS.Signals) => {
    signals.push(signal);
    if (service === undefined) {
      // A second one while starting gives up at once, as the default would have.
      if (signals.length > 1) {
        process.off('SIGINT', onStop).off('SIGTERM', onStop);
        process.kill(process.pid, signal);
      }
      return;
    }
    service.logger.info('signal received', { signal });
    // The first starts the graceful shutdown below; a second one aborts the running tasks now.
    if (signals.length === 1) stopAsked();
    else void service.shutdown();
  };
  const onReload = () => {
    if (service === undefined) reloadAsked = true;
    else void service.reload();
  };
  process.on('SIGINT', onStop).on('SIGTERM', onStop).on('SIGHUP', onReload);
  try {
    // An empty TASK_SEMAPHORE_CONFIG counts as none.
    if (!flags.config) throw new ConfigError('--config', flags.config, 'allowed: the path of a config file (or $TASK_SEMAPHORE_CONFIG)');
    service = await Service.start({
      config: flags.config,
      untilDrained: flags.untilDrained === true,
      ...(flags.logLevel !== undefined && { logLevel: flags.logLevel }),
      ...(flags.logFormat !== undefined && { logFormat: flags.logFormat }),
      ...httpOverrides(flags),
    });
  } catch (error) {
    process.off('SIGINT', onStop).off('SIGTERM', onStop).off('SIGHUP', onReload);
    return reportError(output, error, `task-semaphore run --config ${flags.config}`);
  }
  if (signals.length > 0) {
    service.logger.info('signal received while starting', { signal: signals[0] });
    stopAsked();
  } else if (reloadAsked) {
    void service.reload();
  }
  await Promise.race([stopped, service.drained]);
  const report = await service.shutdown();
  service.logger.info('stopped', { ...report });
  if (report.dropped.length > 0) return exitCodes.dropped;
  return report.errors.length > 0 ? exitCodes.failed : exitCodes.ok;
}
