//! The one starter every benchmarked worker is measured with (so that starting work costs the
//! same whatever runs it).
//!
//! `bench-starter run ADDRESS TASK_QUEUE SCENARIO WARMUP COUNT CONCURRENCY PREFIX [WORK_MS]`:
//! keep CONCURRENCY workflows in flight (start, then wait for the result), WARMUP of them first
//! and not measured, then COUNT measured; prints one JSON line with throughput, latency
//! percentiles and failures.
//! `bench-starter wait-pollers ADDRESS TASK_QUEUE TIMEOUT_S`: return once the server has seen a
//! poller on both the workflow and the activity task queue (a worker's "first poll").

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use temporalio_client::{Client, ClientOptions, Connection, ConnectionOptions};
use tk8s_bench::{
    BenchInput, CpuHeavyWorkflow, FanOutWorkflow, GreetingInput, GreetingWorkflow, HeartbeatWorkflow, MemoryHeavyWorkflow,
    SingleNoopActivityWorkflow,
};
use tk8s_host::Starter;

fn starter(scenario: &str) -> Option<Arc<dyn Starter>> {
    let bench = |text: &str| serde_json::from_str::<BenchInput>(text).unwrap_or_default();
    Some(match scenario {
        "greeting" => Arc::new(tk8s_host::typed(|| GreetingWorkflow::run, GreetingInput::parse)),
        "workflow_with_single_noop_activity" => Arc::new(tk8s_host::typed(|| SingleNoopActivityWorkflow::run, bench)),
        "fan_out" => Arc::new(tk8s_host::typed(|| FanOutWorkflow::run, bench)),
        "heartbeating" => Arc::new(tk8s_host::typed(|| HeartbeatWorkflow::run, bench)),
        "memory_heavy" => Arc::new(tk8s_host::typed(|| MemoryHeavyWorkflow::run, bench)),
        "cpu_heavy" => Arc::new(tk8s_host::typed(|| CpuHeavyWorkflow::run, bench)),
        _ => return None,
    })
}

async fn connect(address: &str) -> Result<Client, Box<dyn std::error::Error>> {
    let url = url::Url::parse(&format!("http://{address}"))?;
    let connection = Connection::connect(ConnectionOptions::new(url).identity("bench-starter".to_string()).build()).await?;
    Ok(Client::new(connection, ClientOptions::new("default").build())?)
}

/// Run `count` workflows with `concurrency` in flight; latencies in ms and failures.
async fn batch(
    client: &Client,
    starter: &Arc<dyn Starter>,
    queue: &str,
    prefix: &str,
    input: &str,
    count: u64,
    concurrency: u64,
) -> (Vec<f64>, u64) {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency.min(count) {
        let (client, starter, next) = (client.clone(), starter.clone(), next.clone());
        let (queue, prefix, input) = (queue.to_string(), prefix.to_string(), input.to_string());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut failed) = (Vec::new(), 0u64);
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                let id = format!("{prefix}-{n}");
                let t = Instant::now();
                let ok = match starter.start(&client, &queue, &id, &input).await {
                    Ok(_) => starter.wait(&client, &id).await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                } else {
                    failed += 1;
                }
            }
            (latencies, failed)
        }));
    }
    let (mut all, mut failed) = (Vec::new(), 0);
    for t in tasks {
        if let Ok((l, f)) = t.await {
            all.extend(l);
            failed += f;
        }
    }
    (all, failed)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn pollers(client: &Client, queue: &str) -> usize {
    use temporalio_client::grpc::WorkflowService;
    use temporalio_common::protos::temporal::api::enums::v1::{TaskQueueKind, TaskQueueType};
    use temporalio_common::protos::temporal::api::taskqueue::v1::TaskQueue;
    use temporalio_common::protos::temporal::api::workflowservice::v1::DescribeTaskQueueRequest;
    let mut seen = usize::MAX;
    for kind in [TaskQueueType::Workflow, TaskQueueType::Activity] {
        let mut svc = client.clone();
        let request = DescribeTaskQueueRequest {
            namespace: "default".into(),
            task_queue: Some(TaskQueue { name: queue.into(), kind: TaskQueueKind::Normal as i32, ..Default::default() }),
            task_queue_type: kind as i32,
            ..Default::default()
        };
        let n = svc
            .describe_task_queue(temporalio_client::tonic::Request::new(request))
            .await
            .map(|r| r.into_inner().pollers.len())
            .unwrap_or(0);
        seen = seen.min(n);
    }
    seen
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["run", address, queue, scenario, warmup, count, concurrency, prefix, rest @ ..] => {
            let starter = starter(scenario).ok_or_else(|| format!("unknown scenario {scenario}"))?;
            let work_ms: u64 = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(0);
            let input = serde_json::json!({ "name": "bench", "work_ms": work_ms }).to_string();
            let client = connect(address).await?;
            let (warmup, count, concurrency): (u64, u64, u64) = (warmup.parse()?, count.parse()?, concurrency.parse()?);
            batch(&client, &starter, queue, &format!("{prefix}-warmup"), &input, warmup, concurrency).await;
            println!("{{\"phase\": \"measuring\"}}");
            let t = Instant::now();
            let (mut latencies, failed) = batch(&client, &starter, queue, prefix, &input, count, concurrency).await;
            let seconds = t.elapsed().as_secs_f64();
            latencies.sort_by(|x, y| x.total_cmp(y));
            println!(
                "{}",
                serde_json::json!({
                    "completed": latencies.len(), "failed": failed, "seconds": seconds,
                    "workflows_per_s": latencies.len() as f64 / seconds,
                    "latency_p50_ms": percentile(&latencies, 0.5), "latency_p95_ms": percentile(&latencies, 0.95),
                })
            );
            Ok(())
        }
        ["wait-pollers", address, queue, timeout_s] => {
            let deadline = Instant::now() + Duration::from_secs(timeout_s.parse()?);
            let client = loop {
                match connect(address).await {
                    Ok(c) => break c,
                    Err(e) if Instant::now() > deadline => return Err(e),
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            };
            while pollers(&client, queue).await == 0 {
                if Instant::now() > deadline {
                    return Err("no poller seen".into());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(())
        }
        _ => Err("usage: bench-starter run ADDRESS QUEUE SCENARIO WARMUP COUNT CONCURRENCY PREFIX [WORK_MS] | wait-pollers ADDRESS QUEUE TIMEOUT_S".into()),
    }
}
