//! The last warnings and errors this process logged, for the operator view: a `tracing` layer
//! ([`RecentErrorsLayer`], installed by `main.rs` beside the stderr formatter) copies every event
//! at WARN or ERROR into one bounded, process-wide ring, which [`recent`] reads.
//!
//! The ring is global because the `tracing` subscriber is: a server started in a process without
//! the layer (tests, benches) simply shows no errors. It holds [`CAPACITY`] entries; older ones
//! fall off. Nothing here blocks: the lock guards a `VecDeque` push.
//!
//! Each entry keeps the tenant it concerns (the event's `tenant` field, else the nearest
//! enclosing span's), so an admin sees only their tenant's entries. Secrets never reach the
//! ring: a field whose name says it holds one (`secret`, `token`, `password`, `api_key`…) is
//! replaced by `[redacted]`, and every URL's query string (a webhook URL's `?token=`) is cut.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

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
    /// The tenant it concerns: the event's `tenant` field, else its nearest span's (the
    /// operator view shows an admin only the entries of their tenant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// Copies WARN and ERROR events into the ring.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecentErrorsLayer;

/// The `tenant` field of a span, kept in its extensions for the events inside it.
struct SpanTenant(String);

impl<S: Subscriber + for<'lookup> LookupSpan<'lookup>> Layer<S> for RecentErrorsLayer {
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        // Every span passes here (connections, requests): look at the `tenant` field only.
        if !attributes
            .fields()
            .iter()
            .any(|field| field.name() == "tenant")
        {
            return;
        }
        let mut tenant = TenantField(None);
        attributes.record(&mut tenant);
        if let (Some(tenant), Some(span)) = (tenant.0, context.span(id)) {
            span.extensions_mut().insert(SpanTenant(tenant));
        }
    }

    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let mut fields = FieldText::default();
        event.record(&mut fields);
        if fields.tenant.is_none() {
            fields.tenant = context.event_scope(event).and_then(|scope| {
                scope.into_iter().find_map(|span| {
                    span.extensions()
                        .get::<SpanTenant>()
                        .map(|tenant| tenant.0.clone())
                })
            });
        }
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
            "message" => self.message = redact_urls(value),
            "tenant" => {
                self.tenant = Some(value.to_owned());
                let _ = write!(self.rest, " tenant={value}");
            }
            name if holds_secret(name) => {
                let _ = write!(self.rest, " {name}=[redacted]");
            }
            name => {
                let _ = write!(self.rest, " {name}={}", redact_urls(value));
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = redact_urls(&format!("{value:?}")),
            "tenant" => {
                let text = format!("{value:?}");
                let _ = write!(self.rest, " tenant={text}");
                self.tenant = Some(text.trim_matches('"').to_owned());
            }
            name if holds_secret(name) => {
                let _ = write!(self.rest, " {name}=[redacted]");
            }
            name => {
                let _ = write!(self.rest, " {name}={}", redact_urls(&format!("{value:?}")));
            }
        }
    }
}

/// Reads only a span's `tenant` field.
struct TenantField(Option<String>);

impl Visit for TenantField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "tenant" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "tenant" {
            self.0 = Some(format!("{value:?}").trim_matches('"').to_owned());
        }
    }
}

/// Whether a field's name says it holds a secret.
fn holds_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "secret",
        "token",
        "password",
        "api_key",
        "apikey",
        "authorization",
        "signature",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// `text` with the query string of every URL in it replaced by `?[redacted]`.
fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme) = rest.find("://") {
        let url_end = rest[scheme..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>'))
            .map_or(rest.len(), |end| scheme + end);
        let url = &rest[..url_end];
        match url[scheme..].find('?') {
            Some(query) => {
                out.push_str(&url[..scheme + query]);
                out.push_str("?[redacted]");
            }
            None => out.push_str(url),
        }
        rest = &rest[url_end..];
    }
    out.push_str(rest);
    out
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

    #[test]
    fn entries_carry_their_spans_tenant_and_no_secrets() {
        let subscriber = tracing_subscriber::registry().with(RecentErrorsLayer);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("webhooks", tenant = "beta");
            let _entered = span.enter();
            tracing::warn!(
                url = %"https://hooks.example/in?token=s3cr3t&x=1",
                api_key = "sk-live",
                "delivery to https://hooks.example/in?token=s3cr3t failed"
            );
        });
        let kept = recent(10, |entry| entry.message.starts_with("delivery to"));
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept[0].tenant.as_deref(), Some("beta"));
        let text = format!("{} {}", kept[0].message, kept[0].fields);
        assert!(
            !text.contains("s3cr3t") && !text.contains("sk-live"),
            "{text}"
        );
        assert!(
            text.contains("https://hooks.example/in?[redacted]"),
            "{text}"
        );
        assert!(text.contains("api_key=[redacted]"), "{text}");
    }

    #[test]
    fn urls_lose_their_query_strings() {
        assert_eq!(redact_urls("no url here"), "no url here");
        assert_eq!(
            redact_urls("a http://h/p?q=1 and https://x/y b"),
            "a http://h/p?[redacted] and https://x/y b"
        );
    }
}
