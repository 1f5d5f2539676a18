// examples/config/handlers.js: the handlers of the "reports" backend of task-semaphore.json, by
// Procrastinate task name. Task names hold dots, so they are the keys of the default export.
export default {
  // Python defers it as `build_report.defer(report_id=7)`.
  'reports.build': async ({ report_id }, job) => {
    console.log(`building report ${report_id} (job ${job.id}, attempt ${job.attempts + 1})`);
  },
  // A task with Procrastinate's retry policy: up to 3 retries, 5 s apart.
  'reports.mail': {
    retry: { maxAttempts: 3, wait: 5 },
    handler: async ({ to }) => {
      console.log(`mailing the report to ${to}`);
    },
  },
};
