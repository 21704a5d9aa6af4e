//! The last warnings and errors this process logged, for the operator view: a `tracing` layer
//! ([`RecentErrorsLayer`], installed by `main.rs` beside the stderr formatter) copies every event
//! at WARN or ERROR into one bounded, process-wide ring, which [`recent`] reads.
//!
//! The ring is global because the `tracing` subscriber is: a server started in a process without
//! the layer (tests, benches) simply shows no errors. It holds [`CAPACITY`] entries; older ones
//! fall off. Nothing here blocks: the lock guards a `VecDeque` push.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// How many entries the ring keeps.
pub const CAPACITY: usize = 200;

/// One logged warning or error.
#[derive(Debug, Clone, Serialize)]
pub struct LoggedError {
    /// When, in milliseconds since the Unix epoch.
    pub ts: u64,
    /// `warn` or `error`.
    pub level: &'static str,
    /// The module that logged it.
    pub target: String,
    /// The message.
    pub message: String,
    /// The other fields, `name=value` joined by spaces.
    pub fields: String,
    /// The `tenant` field, when the event had one (the operator view shows an admin only the
    /// entries of their tenant and those of no tenant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// Copies WARN and ERROR events into the ring.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecentErrorsLayer;

impl<S: Subscriber> Layer<S> for RecentErrorsLayer {
    fn on_event(&self, event: &Event<'_>, _context: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut fields = FieldText::default();
        event.record(&mut fields);
        let entry = LoggedError {
            ts: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64),
            level: if level == Level::ERROR {
                "error"
            } else {
                "warn"
            },
            target: event.metadata().target().to_owned(),
            message: fields.message,
            fields: fields.rest.trim_start().to_owned(),
            tenant: fields.tenant,
        };
        let mut ring = ring();
        if ring.len() == CAPACITY {
            ring.pop_front();
        }
        ring.push_back(entry);
    }
}

/// The most recent entries, newest first, at most `limit`, that `keep` accepts.
pub fn recent(limit: usize, keep: impl Fn(&LoggedError) -> bool) -> Vec<LoggedError> {
    ring()
        .iter()
        .rev()
        .filter(|entry| keep(entry))
        .take(limit)
        .cloned()
        .collect()
}

fn ring() -> MutexGuard<'static, VecDeque<LoggedError>> {
    static RING: OnceLock<Mutex<VecDeque<LoggedError>>> = OnceLock::new();
    // A push or a clone cannot leave the ring inconsistent, so a poisoned lock is used as is.
    RING.get_or_init(|| Mutex::new(VecDeque::with_capacity(CAPACITY)))
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct FieldText {
    message: String,
    rest: String,
    tenant: Option<String>,
}

impl Visit for FieldText {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            "tenant" => {
                self.tenant = Some(value.to_owned());
                let _ = write!(self.rest, " tenant={value}");
            }
            name => {
                let _ = write!(self.rest, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "tenant" => {
                let text = format!("{value:?}");
                let _ = write!(self.rest, " tenant={text}");
                self.tenant = Some(text.trim_matches('"').to_owned());
            }
            name => {
                let _ = write!(self.rest, " {name}={value:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn warnings_and_errors_are_kept_with_their_fields_and_info_is_not() {
        let subscriber = tracing_subscriber::registry().with(RecentErrorsLayer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("not kept");
            tracing::warn!(tenant = "acme", cause = %"disk full", "sink retrying");
            tracing::error!(code = 7, "flush failed");
        });
        let kept = recent(10, |entry| {
            entry.message == "flush failed" || entry.message == "sink retrying"
        });
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert_eq!(kept[0].message, "flush failed");
        assert_eq!(kept[0].level, "error");
        assert_eq!(kept[0].fields, "code=7");
        assert_eq!(kept[1].level, "warn");
        assert_eq!(kept[1].tenant.as_deref(), Some("acme"));
        assert!(kept[1].fields.contains("cause=disk full"), "{kept:?}");
        assert!(recent(CAPACITY, |entry| entry.message == "not kept").is_empty());
    }
}
