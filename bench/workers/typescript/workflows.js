// The benchmark scenarios' workflows for the TypeScript SDK (bundled by @temporalio/worker).
const { proxyActivities } = require('@temporalio/workflow');

const a = proxyActivities({ startToCloseTimeout: '60s', heartbeatTimeout: '10s' });

async function GreetingWorkflow(input) {
  const greeting = await a['GreetingActivities::compose_greeting'](input.name);
  const processed = await a['GreetingActivities::process_greeting']([greeting, input.work_ms || 0]);
  return await a['GreetingActivities::finalise_greeting'](processed);
}

async function SingleNoopActivityWorkflow(input) {
  return await a['BenchActivities::noop'](input.name);
}

async function FanOutWorkflow(input) {
  const results = await Promise.all(Array.from({ length: 10 }, () => a['BenchActivities::noop'](input.name)));
  return `${results.length} done`;
}

async function HeartbeatWorkflow(input) {
  return await a['GreetingActivities::process_greeting']([input.name, input.work_ms || 0]);
}

module.exports = { GreetingWorkflow, SingleNoopActivityWorkflow, FanOutWorkflow, HeartbeatWorkflow };
