"""The benchmark scenarios as a Python SDK worker (temporalio from PyPI): the same workflow type
names, activity names and semantics as the Rust workers in bench/workers/rust.

Usage: python worker.py ADDRESS TASK_QUEUE [MAX_ACTIVITIES MAX_WORKFLOW_TASKS POLLERS]
Prints "polling" once the worker runs; SIGTERM stops it.
"""

import asyncio
import signal
import sys
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker


@activity.defn(name="GreetingActivities::compose_greeting")
async def compose_greeting(name: str) -> str:
    return f"Hello, {name}!"


@activity.defn(name="GreetingActivities::process_greeting")
async def process_greeting(args: list) -> str:
    greeting, work_ms = args
    for step in range((work_ms + 99) // 100):
        await asyncio.sleep(0.1)
        activity.heartbeat(step + 1)
    return f"{greeting} Welcome to Temporal on Kubernetes."


@activity.defn(name="GreetingActivities::finalise_greeting")
async def finalise_greeting(processed: str) -> str:
    return f"{processed} (attempt {activity.info().attempt})"


@activity.defn(name="BenchActivities::noop")
async def noop(_input: str) -> str:
    return "done"


def options():
    return dict(start_to_close_timeout=timedelta(seconds=60), heartbeat_timeout=timedelta(seconds=10))


@workflow.defn(name="GreetingWorkflow")
class GreetingWorkflow:
    @workflow.run
    async def run(self, input: dict) -> str:
        greeting = await workflow.execute_activity("GreetingActivities::compose_greeting", input["name"], **options())
        processed = await workflow.execute_activity("GreetingActivities::process_greeting", [greeting, input.get("work_ms", 0)], **options())
        return await workflow.execute_activity("GreetingActivities::finalise_greeting", processed, **options())


@workflow.defn(name="SingleNoopActivityWorkflow")
class SingleNoopActivityWorkflow:
    @workflow.run
    async def run(self, input: dict) -> str:
        return await workflow.execute_activity("BenchActivities::noop", input["name"], **options())


@workflow.defn(name="FanOutWorkflow")
class FanOutWorkflow:
    @workflow.run
    async def run(self, input: dict) -> str:
        results = await asyncio.gather(*[workflow.execute_activity("BenchActivities::noop", input["name"], **options()) for _ in range(10)])
        return f"{len(results)} done"


@workflow.defn(name="HeartbeatWorkflow")
class HeartbeatWorkflow:
    @workflow.run
    async def run(self, input: dict) -> str:
        return await workflow.execute_activity("GreetingActivities::process_greeting", [input["name"], input.get("work_ms", 0)], **options())


async def main() -> None:
    address, queue = sys.argv[1], sys.argv[2]
    max_activities, max_wft, pollers = (int(a) for a in (sys.argv[3:6] + ["100", "100", "5"][len(sys.argv[3:6]):]))
    client = await Client.connect(address)
    worker = Worker(
        client,
        task_queue=queue,
        workflows=[GreetingWorkflow, SingleNoopActivityWorkflow, FanOutWorkflow, HeartbeatWorkflow],
        activities=[compose_greeting, process_greeting, finalise_greeting, noop],
        max_concurrent_activities=max_activities,
        max_concurrent_workflow_tasks=max_wft,
        max_concurrent_workflow_task_polls=pollers,
        max_concurrent_activity_task_polls=pollers,
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with worker:
        print("polling", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
