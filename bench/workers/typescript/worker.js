// The benchmark scenarios as a TypeScript SDK worker (@temporalio/worker from npm): the same
// workflow type names, activity names and semantics as the Rust workers in bench/workers/rust.
// Usage: node worker.js ADDRESS TASK_QUEUE [MAX_ACTIVITIES MAX_WORKFLOW_TASKS POLLERS]
// Prints "polling" once the worker runs; SIGTERM stops it.
const { NativeConnection, Worker } = require('@temporalio/worker');
const { Context } = require('@temporalio/activity');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const activities = {
  'GreetingActivities::compose_greeting': async (name) => `Hello, ${name}!`,
  'GreetingActivities::process_greeting': async ([greeting, workMs]) => {
    for (let step = 0; step < Math.ceil(workMs / 100); step++) {
      await sleep(100);
      Context.current().heartbeat(step + 1);
    }
    return `${greeting} Welcome to Temporal on Kubernetes.`;
  },
  'GreetingActivities::finalise_greeting': async (processed) => `${processed} (attempt ${Context.current().info.attempt})`,
  'BenchActivities::noop': async () => 'done',
};

async function main() {
  const [address, taskQueue, maxActivities = '100', maxWft = '100', pollers = '5'] = process.argv.slice(2);
  const connection = await NativeConnection.connect({ address });
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowsPath: require.resolve('./workflows.js'),
    activities,
    maxConcurrentActivityTaskExecutions: Number(maxActivities),
    maxConcurrentWorkflowTaskExecutions: Number(maxWft),
    maxConcurrentWorkflowTaskPolls: Number(pollers),
    maxConcurrentActivityTaskPolls: Number(pollers),
    shutdownSignals: ['SIGTERM', 'SIGINT'],
  });
  console.log('polling');
  await worker.run();
  await connection.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
