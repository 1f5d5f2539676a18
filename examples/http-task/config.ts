// examples/http-task/config.ts: a config module for `task-semaphore run` whose tasks are written in
// any language and report back over HTTP: task.py (Python, standard library only) and task.sh
// (shell, curl). Producers push task ids onto a Redis list; ids starting `py-` run task.py, the
// others task.sh. Each task gets the endpoint's URL, the bearer token, its id and its token.
//   TASK_SEMAPHORE_HTTP_TOKEN=$(openssl rand -hex 32) npx task-semaphore run --config dist/examples/http-task/config.js
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TaskContext } from 'task-semaphore';
import { RedisListBackend } from '../lib/redis-list-backend.js';

const redis = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const name = process.env.HTTP_TASKS_NAME ?? 'http-tasks';
const port = Number(process.env.HTTP_PORT ?? 9478);
const token = process.env.TASK_SEMAPHORE_HTTP_TOKEN;
if (!token) throw new Error('set TASK_SEMAPHORE_HTTP_TOKEN: the bearer token the tasks send (e.g. openssl rand -hex 32)');
/** Where producers push task ids: `redis-cli RPUSH http-tasks:queue py-report-1 sh-report-2`. */
export const queue = `${name}:queue`;
const folder = fileURLToPath(new URL('../../../examples/http-task/', import.meta.url));

class ProgramTasks extends RedisListBackend {
  // Launch and return: the program holds the task from here on and keeps its slot alive itself.
  protected launch(taskId: string, task: TaskContext) {
    const [command, script] = taskId.startsWith('py-') ? ['python3', 'task.py'] : ['sh', 'task.sh'];
    const child = spawn(command, [`${folder}${script}`], {
      stdio: 'inherit',
      env: { ...process.env, TASK_SEMAPHORE_URL: `http://127.0.0.1:${port}`, TASK_ID: taskId, TASK_TOKEN: String(task.token) },
    });
    child.unref();
  }
}

export default {
  scheduler: { name, redis, timeout: '30s' },
  slots: [{ slotIds: '1-2', backends: ['programs'] }],
  backends: { programs: new ProgramTasks(redis, queue) },
  cron: '*/2 * * * * *',
  // The control routes need the token; the endpoint listens on this host only.
  http: { port, token },
};
