// examples/shell-task/config.ts: a config module for `task-semaphore run`, for tasks written as
// shell scripts. Producers anywhere push task ids onto a Redis list; the `shell` backend pops them
// and starts task.sh for each, which reports back through the `task-semaphore` command.
//   npx task-semaphore run --config dist/examples/shell-task/config.js
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TaskContext } from 'task-semaphore';
import { RedisListBackend } from '../lib/redis-list-backend.js';

const redis = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const name = process.env.SHELL_TASKS_NAME ?? 'shell-tasks';
/** Where producers push task ids: `redis-cli RPUSH shell-tasks:queue report-1 report-2`. */
export const queue = `${name}:queue`;
const script = fileURLToPath(new URL('../../../examples/shell-task/task.sh', import.meta.url));

class ShellTasks extends RedisListBackend {
  // Launch and return: the script holds the task from here on and keeps its slot alive itself.
  protected launch(taskId: string, task: TaskContext) {
    const child = spawn('sh', [script, taskId, String(task.token)], {
      stdio: 'inherit',
      // What the script's `task-semaphore keepalive/stop` calls need to reach this scheduler's slots.
      env: { ...process.env, TASK_SEMAPHORE_NAME: name, TASK_SEMAPHORE_REDIS: redis },
    });
    child.unref();
  }
}

export default {
  scheduler: { name, redis, timeout: '30s' },
  slots: [{ slotIds: '1-2', backends: ['shell'] }], // two scripts at a time, across every host running this
  backends: { shell: new ShellTasks(redis, queue) },
  cron: '*/2 * * * * *',
};
