//! Trace export over OTLP, when a collector is configured: the SDK's OpenTelemetry plugin makes
//! spans for workflow starts (orchestrator), workflow runs and activity executions (worker) and
//! carries the trace context between them in the cross-SDK `_tracer-data` header, so one greeting
//! is one trace across both processes. The provider uses the SDK's replay-safe ID generator and
//! span processor, so a replayed workflow neither changes nor re-exports its spans. Spans are
//! batched in the background and flushed when the role finishes.

use crate::HostError;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};
use std::time::Duration;
use temporalio_sdk::SimplePlugin;
use temporalio_sdk::opentelemetry::{OpenTelemetryPlugin, WorkflowIdGenerator, WorkflowSpanProcessor};
use tk8s_config::Config;

/// The tracer provider while the role runs.
pub struct Traces {
    provider: SdkTracerProvider,
}

/// Start exporting if `log.otlp_endpoint` is set. Call inside the Tokio runtime (tonic needs it).
pub fn start(config: &Config, role: &str) -> Result<Option<Traces>, HostError> {
    let Some(endpoint) = &config.log.otlp_endpoint else { return Ok(None) };
    let mut builder =
        opentelemetry_otlp::SpanExporter::builder().with_tonic().with_endpoint(endpoint.clone()).with_timeout(Duration::from_secs(5));
    if endpoint.starts_with("https://") {
        builder = builder.with_tls_config(opentelemetry_otlp::tonic_types::transport::ClientTlsConfig::new().with_enabled_roots());
    }
    let exporter = builder.build().map_err(|e| HostError::Traces { endpoint: endpoint.clone(), source: e.into() })?;
    // `log.service_name` (OTEL_SERVICE_NAME) wins over the app's name.
    let service = config.log.service_name.clone().unwrap_or_else(|| config.app_name.clone());
    let resource = Resource::builder().with_attributes([KeyValue::new("tk8s.role", role.to_string())]).with_service_name(service);
    let provider = SdkTracerProvider::builder()
        .with_id_generator(WorkflowIdGenerator::default())
        .with_span_processor(WorkflowSpanProcessor::new(BatchSpanProcessor::builder(exporter).build()))
        .with_resource(resource.build())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    tracing::info!(endpoint = %endpoint, "exporting traces over OTLP");
    Ok(Some(Traces { provider }))
}

/// The SDK plugin that makes the spans, for the client (and through it, the worker).
pub fn plugin() -> SimplePlugin {
    OpenTelemetryPlugin::builder().build()
}

impl Traces {
    /// Send what is buffered and stop. Off the async threads: the batch processor blocks.
    pub async fn finish(self) {
        let provider = self.provider;
        let flushed = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(Duration::from_secs(5)));
        match tokio::time::timeout(Duration::from_secs(6), flushed).await {
            Ok(Ok(Ok(()))) => tracing::debug!("traces flushed"),
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "could not flush traces"),
            _ => tracing::warn!("flushing traces timed out"),
        }
    }
}
