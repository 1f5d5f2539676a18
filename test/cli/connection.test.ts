/** The connection flags every store command takes, as they become scheduler options. */
import test from 'ava';
import { Command } from 'commander';
import { optionsFromFlags, withConnection, type ConnectionFlags } from '../../src/cli/connection.js';

function flagsOf(args: string[]): ConnectionFlags {
  const command = withConnection(new Command('probe')).action(() => undefined);
  command.parse(args, { from: 'user' });
  return command.opts<ConnectionFlags>();
}

const postgres = ['--name', 'reports', '--postgres', 'postgres://db/app'];

test('--no-postgres-prepared-statements turns prepared statements off', (t) => {
  t.like(optionsFromFlags(flagsOf([...postgres, '--no-postgres-prepared-statements'])), {
    name: 'reports',
    postgres: 'postgres://db/app',
    postgresPreparedStatements: false,
  });
});

test('without it the option is left to its default', (t) => {
  t.false('postgresPreparedStatements' in optionsFromFlags(flagsOf(postgres)));
});
