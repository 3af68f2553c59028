//! The floor: the same scenarios on a bare SDK worker, with the host's default slot and poller
//! numbers and none of its machinery (no admin server, metrics, logs, reloads or readiness).
//! Usage: bench-bare ADDRESS TASK_QUEUE. SIGTERM stops it. `BENCH_GRPC_COMPRESSION=none` turns off
//! the client's request gzip (the SDK's default is on; the host's is off), for a like-for-like
//! comparison of the host's own cost. `BENCH_METRICS_PORT=PORT` turns on the SDK's own
//! Prometheus metrics, with the registry and options the host uses, served on 127.0.0.1:PORT:
//! the fair floor, since no production worker runs without metrics.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions, GrpcCompression};
use temporalio_common::telemetry::metrics::CoreMeter;
use temporalio_common::telemetry::{PrometheusExporterOptions, TelemetryOptions, start_prometheus_metric_exporter, telemetry_init};
use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::runtime::{PollerBehavior, RuntimeOptions};
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (address, task_queue) = match args.as_slice() {
        [_, a, q] => (a.clone(), q.clone()),
        _ => return Err("usage: bench-bare ADDRESS TASK_QUEUE".into()),
    };
    let url = url::Url::parse(&format!("http://{address}"))?;
    let compression = match std::env::var("BENCH_GRPC_COMPRESSION").as_deref() {
        Ok("none") => GrpcCompression::None,
        _ => GrpcCompression::Gzip,
    };
    // The SDK's metrics as the host sets them up (tk8s-host's telemetry): one Prometheus
    // registry for the core and the client.
    let metrics_port: Option<u16> = std::env::var("BENCH_METRICS_PORT").ok().map(|p| p.parse()).transpose()?;
    let (telemetry, client_meter) = match metrics_port {
        Some(port) => {
            let exporter = start_prometheus_metric_exporter(
                PrometheusExporterOptions::builder()
                    .socket_addr(SocketAddr::from(([127, 0, 0, 1], port)))
                    .global_tags(HashMap::new())
                    .counters_total_suffix(true)
                    .unit_suffix(true)
                    .use_seconds_for_durations(true)
                    .build(),
            )?;
            let meter: std::sync::Arc<dyn CoreMeter> = exporter.meter.clone();
            let options = TelemetryOptions::builder().metrics(meter).attach_service_name(false).build();
            let meter = telemetry_init(options.clone())?.get_temporal_metric_meter();
            (options, meter)
        }
        None => (TelemetryOptions::builder().build(), None),
    };
    let options = ConnectionOptions::new(url)
        .identity(format!("{}@bench-bare", std::process::id()))
        .grpc_compression(compression)
        .maybe_metrics_meter(client_meter)
        .build();
    let connection = Connection::connect(options).await?;
    let client = Client::new(connection, ClientOptions::new("default").build())?;
    let runtime = Runtime::from_current_tokio(RuntimeOptions::builder().telemetry_options(telemetry).build()?)?;
    let tuner = TunerHolder::builder()
        .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(100))
        .activity_task_slot_supplier(FixedSizeSlotSupplier::new(100))
        .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(100))
        .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(10))
        .build();
    let mut options = WorkerOptions::new(task_queue)
        .tuner(tuner)
        .max_cached_workflows(1000)
        .workflow_task_poller_behavior(PollerBehavior::SimpleMaximum(5))
        .activity_task_poller_behavior(PollerBehavior::SimpleMaximum(5))
        .graceful_shutdown_period(Duration::from_secs(20))
        .build();
    tk8s_bench::register(&mut options)?;
    let mut worker = Worker::new(&runtime, client, options)?;
    let stop = worker.shutdown_handle();
    tokio::spawn(async move {
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            term.recv().await;
            stop();
        }
    });
    println!("polling");
    worker.run().await?;
    Ok(())
}
