// examples/http-server.ts: a scheduler's HTTP endpoint in a program of your own. A task reports
// over HTTP as a Python or shell task would (examples/http-task), with the bearer token.
import { Backend, Scheduler } from 'task-semaphore';
import { HttpServer } from 'task-semaphore/http';

class Reports extends Backend {
  private readonly waiting = ['report-1'];
  poll() {
    return this.waiting.shift() ?? null;
  }
  startCallback() {} // the task runs elsewhere and reports over HTTP
}

const scheduler = new Scheduler({ name: 'http-example', logger: false });
scheduler.registerBackend('reports', new Reports());
await scheduler.load([{ slotId: 1, backends: ['reports'] }]);
await scheduler.schedule();

const token = 'example-token-0123456789abcdef'; // in production: from a secret store, at least 16 characters
const http = await HttpServer.start(scheduler, { port: 0, token }); // port 0: any free port
const post = (path: string, body: object) =>
  fetch(`${http.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

const renewed = (await (await post('/tasks/report-1/keepalive', {})).json()) as { ok: boolean; cancelRequested: boolean };
console.log(`keepalive: ok ${renewed.ok}, cancel requested ${renewed.cancelRequested}`);
const stopped = await post('/tasks/report-1/stop', { status: 'succeeded' });
console.log(`stop: HTTP ${stopped.status}`);
console.log(`health: HTTP ${(await fetch(`${http.url}/healthz`)).status}`);

await http.close();
await scheduler.close();
