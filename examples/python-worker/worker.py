"""A Temporal worker in Python, run on Kubernetes by temporal-k8s without a line of tk8s in it.

Everything it needs comes from its environment, as `tk8s render` writes it for `worker.sdk =
"python"`: the connection from Temporal's own envconfig variables (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_TLS*, TEMPORAL_API_KEY), the task queue from TEMPORAL_TASK_QUEUE,
the Prometheus port from METRICS_PORT (the companion relays it). `tk8s companion` beside it
answers the pod's probes from the pollers Temporal sees for this pod: the worker's identity is
the SDK default, <pid>@<hostname>, and the hostname is the pod's name.

The graceful shutdown is set here (the Python SDK's default is 0: running activities would be
cut off at SIGTERM) and declared as worker.graceful_shutdown in the deploy config.
"""

import asyncio
import os
import signal
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

GRACEFUL_SHUTDOWN = timedelta(seconds=20)


@activity.defn
async def fetch_seed(name: str) -> str:
    return f"seed for {name}"


@activity.defn
async def grow(seed: str) -> str:
    for _ in range(3):
        await asyncio.sleep(0.05)
        activity.heartbeat()
    return f"{seed}, grown"


@activity.defn
async def harvest(plant: str) -> str:
    return f"{plant}, harvested"


@workflow.defn
class SeedWorkflow:
    """Three chained activities."""

    @workflow.run
    async def run(self, name: str) -> str:
        options = dict(start_to_close_timeout=timedelta(seconds=30), heartbeat_timeout=timedelta(seconds=10))
        seed = await workflow.execute_activity(fetch_seed, name, **options)
        plant = await workflow.execute_activity(grow, seed, **options)
        return await workflow.execute_activity(harvest, plant, **options)


async def main() -> None:
    port = os.environ.get("METRICS_PORT")
    telemetry = TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}")) if port else TelemetryConfig()
    connect = ClientConfigProfile.load().to_client_connect_config()
    client = await Client.connect(**connect, runtime=Runtime(telemetry=telemetry))
    worker = Worker(
        client,
        task_queue=os.environ["TEMPORAL_TASK_QUEUE"],
        workflows=[SeedWorkflow],
        activities=[fetch_seed, grow, harvest],
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    async with worker:
        print("polling", flush=True)
        await stop.wait()
    print("drained", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
