//! One logging setup for every temporal-k8s binary: JSON lines in containers, human text on a
//! terminal, the level from configuration. It lives apart from the host so that `tk8s` (render,
//! lint, the codec server) logs the same way without linking the Temporal SDK; the host hands
//! the returned subscriber to the SDK core so core's own logs join the same stream.
//!
//! Spans are dropped where they are never printed: the JSON lines carry no span context, and
//! the SDK core opens an INFO span per history event and per activation (carrying the event as
//! text), which the formatting layer would otherwise record and format for every workflow task
//! while no line is written (about ten points of the host's CPU over a bare SDK worker, measured
//! with `cargo xtask bench workers`). Events are unaffected; the text format keeps spans for
//! context, the SDK core's only at `debug` and `trace`. Exported traces (OTLP) do not use these
//! spans.

use std::io::IsTerminal;
use std::sync::Arc;
use tk8s_config::{Log, LogFormat};
use tracing::Metadata;
use tracing::Subscriber;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::{EnvFilter, Layer, fmt, layer::SubscriberExt};

/// Whether the formatting layer records this span or event.
fn keep(meta: &Metadata<'_>, json: bool, verbose: bool) -> bool {
    if !meta.is_span() {
        return true;
    }
    !json && (verbose || !meta.target().starts_with("temporalio"))
}

/// Install the process-wide subscriber and return it (the SDK core takes it too).
pub fn init(log: &Log) -> Arc<dyn Subscriber + Send + Sync> {
    install(log, false)
}

/// The same for a command whose standard output is its result (`replay`): logs go to standard
/// error, and the SDK core's per-task warnings (which the result reports) are left out.
pub fn init_for_command(log: &Log) -> Arc<dyn Subscriber + Send + Sync> {
    install(log, true)
}

fn install(log: &Log, command: bool) -> Arc<dyn Subscriber + Send + Sync> {
    // The SDK core is chatty at debug; follow the chosen level but never below info for h2/tonic.
    let quiet_core = if command { ",temporalio_sdk_core=error,temporalio_sdk=error" } else { "" };
    let filter = EnvFilter::new(format!("{},h2=warn,tower=warn,hyper=warn,hyper_util=warn,tonic=warn,rustls=warn{quiet_core}", log.level));
    let terminal = if command { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
    let writer = move || -> Box<dyn std::io::Write> { if command { Box::new(std::io::stderr()) } else { Box::new(std::io::stdout()) } };
    let json = match log.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !terminal,
    };
    let verbose = matches!(log.level.as_str(), "debug" | "trace");
    let spans = filter_fn(move |meta| keep(meta, json, verbose));
    let subscriber: Arc<dyn Subscriber + Send + Sync> = if json {
        let layer =
            fmt::layer().json().flatten_event(true).with_current_span(false).with_span_list(false).with_target(true).with_writer(writer);
        Arc::new(tracing_subscriber::registry().with(filter).with(layer.with_filter(spans)))
    } else {
        let layer = fmt::layer().with_target(false).with_ansi(terminal).with_writer(writer);
        Arc::new(tracing_subscriber::registry().with(filter).with(layer.with_filter(spans)))
    };
    // A second init (tests call into libraries more than once) keeps the first subscriber.
    let _ = tracing::subscriber::set_global_default(subscriber.clone());
    subscriber
}

#[cfg(test)]
mod tests {
    use super::keep;
    use tracing::{Level, Metadata, callsite::Identifier, field::FieldSet, metadata::Kind};

    struct Site;
    impl tracing::Callsite for Site {
        fn set_interest(&self, _: tracing::subscriber::Interest) {}
        fn metadata(&self) -> &Metadata<'_> {
            unreachable!()
        }
    }
    static SITE: Site = Site;

    fn meta(target: &'static str, kind: Kind) -> Metadata<'static> {
        Metadata::new("m", target, Level::INFO, None, None, None, FieldSet::new(&[], Identifier(&SITE)), kind)
    }

    #[test]
    fn spans_are_kept_only_where_they_are_printed() {
        let core_span = meta("temporalio_sdk_core::worker", Kind::SPAN);
        let app_span = meta("greeting", Kind::SPAN);
        let core_event = meta("temporalio_sdk_core::worker", Kind::EVENT);
        assert!(keep(&core_event, true, false) && keep(&core_event, false, false), "events always");
        assert!(!keep(&core_span, true, true) && !keep(&app_span, true, false), "JSON prints no spans");
        assert!(!keep(&core_span, false, false) && keep(&core_span, false, true), "text: core spans at debug only");
        assert!(keep(&app_span, false, false));
    }
}
