//! One logging setup for every temporal-k8s binary: JSON lines in containers, human text on a
//! terminal, the level from configuration. It lives apart from the host so that `tk8s` (render,
//! lint, the codec server) logs the same way without linking the Temporal SDK; the host hands
//! the returned subscriber to the SDK core so core's own logs join the same stream.

use std::io::IsTerminal;
use std::sync::Arc;
use tk8s_config::{Log, LogFormat};
use tracing::Subscriber;
use tracing_subscriber::{EnvFilter, fmt, layer::SubscriberExt};

/// Install the process-wide subscriber and return it (the SDK core takes it too).
pub fn init(log: &Log) -> Arc<dyn Subscriber + Send + Sync> {
    // The SDK core is chatty at debug; follow the chosen level but never below info for h2/tonic.
    let filter = EnvFilter::new(format!("{},h2=warn,tower=warn,hyper=warn,hyper_util=warn,tonic=warn,rustls=warn", log.level));
    let terminal = std::io::stdout().is_terminal();
    let json = match log.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !terminal,
    };
    let subscriber: Arc<dyn Subscriber + Send + Sync> = if json {
        Arc::new(
            tracing_subscriber::registry()
                .with(filter)
                .with(fmt::layer().json().flatten_event(true).with_current_span(false).with_span_list(false).with_target(true)),
        )
    } else {
        Arc::new(tracing_subscriber::registry().with(filter).with(fmt::layer().with_target(false).with_ansi(terminal)))
    };
    // A second init (tests call into libraries more than once) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber.clone());
    subscriber
}
