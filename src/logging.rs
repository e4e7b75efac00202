//! Logs: `tracing` events and spans, written one line each to standard error
//! as text or JSON, filtered by `RUST_LOG`.
//!
//! Every crate's events reach the same output: Meridian's own, the libraries
//! that use `tracing` (quinn, sqlx, wtransport, hyper) and, through the `log`
//! bridge, those that still use `log` (tungstenite, bevy). Without `RUST_LOG`
//! the filter is [`DEFAULT_FILTER`]: Meridian's crates at `info`, every
//! library at `warn`. Standard output is left to what a command was asked to
//! print (a report, a created account).

use anyhow::Context;
use serde::Deserialize;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// The filter when `RUST_LOG` is unset: Meridian's crates (`meridian`,
/// `meridian_netcode`, ... all start with `meridian`) at `info`, libraries at
/// `warn`.
pub(crate) const DEFAULT_FILTER: &str = "warn,meridian=info";

/// How each line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// `TIMESTAMP LEVEL SPANS: TARGET: MESSAGE key=value ...`, for people.
    #[default]
    Text,
    /// One JSON object a line (`timestamp`, `level`, `target`, `message`, the
    /// event's fields, `span` and `spans`), for log collectors.
    Json,
}

impl LogFormat {
    /// The format named by `MERIDIAN_LOG_FORMAT`, if set.
    pub(crate) fn from_env() -> anyhow::Result<Option<Self>> {
        match std::env::var("MERIDIAN_LOG_FORMAT") {
            Ok(text) => match text.trim() {
                "text" => Ok(Some(Self::Text)),
                "json" => Ok(Some(Self::Json)),
                other => anyhow::bail!("MERIDIAN_LOG_FORMAT={other:?} is neither text nor json"),
            },
            Err(_) => Ok(None),
        }
    }
}

/// The filter from `RUST_LOG` (directives like `info,quinn=debug,sqlx::query=off`),
/// or [`DEFAULT_FILTER`] when it is unset or empty. A directive that does not
/// parse is an error: a typo must not silently log nothing.
pub(crate) fn filter_from_env() -> anyhow::Result<EnvFilter> {
    match std::env::var(EnvFilter::DEFAULT_ENV) {
        Ok(text) if !text.trim().is_empty() => EnvFilter::builder()
            .parse(&text)
            .with_context(|| format!("RUST_LOG={text:?} is not a valid filter")),
        _ => Ok(EnvFilter::new(DEFAULT_FILTER)),
    }
}

/// Installs the process's logger: `format` lines to standard error, filtered
/// by `RUST_LOG`. Call once, before anything logs.
pub(crate) fn init(format: LogFormat) -> anyhow::Result<()> {
    install(format, filter_from_env()?, std::io::stderr)
}

/// Installs a logger of `format` and `filter` writing to `writer` as the
/// process's global one, with the `log` bridge.
fn install<W>(format: LogFormat, filter: EnvFilter, writer: W) -> anyhow::Result<()>
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .with_thread_names(true);
    let installed = match format {
        LogFormat::Text => builder.finish().try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .finish()
            .try_init(),
    };
    installed.map_err(|error| anyhow::anyhow!("cannot install the logger: {error}"))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use super::*;

    /// A writer into a shared buffer, for tests of what the logger writes.
    #[derive(Debug, Default)]
    struct Captured(std::sync::Arc<Mutex<Vec<u8>>>);

    impl Write for &Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("a poisoned buffer"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'writer> MakeWriter<'writer> for Captured {
        type Writer = &'writer Self;

        fn make_writer(&'writer self) -> Self::Writer {
            self
        }
    }

    /// One test installs the global logger (a process has one): JSON lines
    /// into a buffer, with Meridian's events, a span, and a `log` record of a
    /// library, all in the same output; a filtered-out level writes nothing.
    #[test]
    fn tracing_and_log_events_become_json_lines() {
        let captured = Captured::default();
        let buffer = captured.0.clone();
        let filter = EnvFilter::new("info,some_library=warn");
        install(LogFormat::Json, filter, captured).expect("the first logger installs");

        let span = tracing::info_span!("http_request", method = "GET", route = "/health");
        span.in_scope(|| tracing::info!(status = 200, "answered"));
        log::warn!(target: "some_library", "a library's warning");
        log::info!(target: "some_library", "below the library's level");
        tracing::debug!("below the default level");

        let text = String::from_utf8(buffer.lock().expect("not poisoned").clone()).expect("utf-8");
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is JSON"))
            .collect();
        for line in &lines {
            for field in ["timestamp", "level", "target"] {
                assert!(line.get(field).is_some(), "{field} in {line}");
            }
        }
        let answered = lines
            .iter()
            .find(|line| line["message"] == "answered")
            .expect("the event");
        assert_eq!(answered["level"], "INFO");
        assert_eq!(answered["status"], 200);
        assert_eq!(answered["span"]["name"], "http_request");
        assert_eq!(answered["span"]["route"], "/health");
        let warning = lines
            .iter()
            .find(|line| line["message"] == "a library's warning")
            .expect("the log record");
        assert_eq!(warning["level"], "WARN");
        assert_eq!(warning["target"], "some_library");
        assert!(!text.contains("below the"), "{text}");
    }

    #[test]
    fn the_default_filter_parses() {
        let parsed = EnvFilter::builder().parse(DEFAULT_FILTER);
        assert!(parsed.is_ok(), "{parsed:?}");
    }
}
