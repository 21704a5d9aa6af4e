//! The HTTP behind the `HttpService:RequestAsync` stand-in: real requests over loopback, run as
//! tokio tasks so that a held long-poll never blocks the Luau threads, plus the things a test
//! needs around them: a record of every request (with its virtual start time), injected faults
//! (a throw, a lost answer, a 429 or 503 that never reached the server), and `Secret`, the
//! opaque value `HttpService:GetSecret` returns.

use std::collections::HashMap;
use std::time::Duration;

use mlua::{MetaMethod, Table, Thread, UserData, UserDataFields, UserDataMethods, Value};
use tokio::sync::mpsc;

/// How long one request may take before it fails as Roblox's would (`HttpError: Timedout`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);

/// The opaque value `HttpService:GetSecret` returns: usable only as a header value, and only
/// extended with `AddPrefix`/`AddSuffix`. It cannot be concatenated or printed.
#[derive(Debug, Clone)]
pub struct Secret(pub(crate) String);

impl UserData for Secret {
    fn add_fields<F: UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field(MetaMethod::Type.name(), "Secret");
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("AddPrefix", |_, secret, prefix: String| {
            Ok(Secret(format!("{prefix}{}", secret.0)))
        });
        methods.add_method("AddSuffix", |_, secret, suffix: String| {
            Ok(Secret(format!("{}{suffix}", secret.0)))
        });
        methods.add_meta_method(MetaMethod::ToString, |_, _, ()| Ok("Secret"));
    }
}

/// A fault to inject into requests whose method and path match.
#[derive(Debug, Clone)]
pub struct Fault {
    /// `GET`, `POST`, `DELETE` (`None`: any).
    pub method: Option<String>,
    /// A part of the path the request must contain, e.g. `/roblox/events`.
    pub path_contains: String,
    /// What happens instead of a normal answer.
    pub kind: FaultKind,
    /// How many matching requests get it.
    pub times: usize,
}

impl Fault {
    /// `kind` for the next `times` requests of `method` whose path contains `path_contains`.
    pub fn new(method: &str, path_contains: &str, kind: FaultKind, times: usize) -> Fault {
        Fault {
            method: Some(method.to_owned()),
            path_contains: path_contains.to_owned(),
            kind,
            times,
        }
    }
}

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// `RequestAsync` throws and nothing is sent (a connection failure).
    Throw,
    /// The request reaches classhub and is handled, then its answer is lost and `RequestAsync`
    /// throws (a timeout after the server committed): the retry must not store anything twice.
    LoseResponse,
    /// classhub is not reached; this status comes back with an error body and, when given, a
    /// `Retry-After` header (seconds).
    Status {
        /// 429, 500, 503...
        status: u16,
        /// `Retry-After` seconds.
        retry_after: Option<u32>,
    },
}

/// One request the SDK made.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// Virtual time it started at (seconds).
    pub at: f64,
    /// HTTP method.
    pub method: String,
    /// Path and query (`/api/v1/roblox/events`).
    pub path: String,
    /// Request body.
    pub body: Option<String>,
    /// The fault injected into it, if any.
    pub fault: Option<FaultKind>,
    /// Status the SDK saw; `None` while in flight or when `RequestAsync` threw.
    pub status: Option<u16>,
    /// The error `RequestAsync` threw, if it did.
    pub error: Option<String>,
}

/// A request as `RequestAsync` was given it.
#[derive(Debug, Clone)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

impl Request {
    /// Reads a `RequestAsync` argument, refusing what Roblox refuses.
    pub fn from_lua(table: &Table) -> mlua::Result<Request> {
        let url: Option<String> = table.get("Url")?;
        let url = url.ok_or_else(|| mlua::Error::runtime("RequestAsync: Url is required"))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(mlua::Error::runtime(format!(
                "RequestAsync: Url must be http(s), got {url:?}"
            )));
        }
        let method: Option<String> = table.get("Method")?;
        let method = method.unwrap_or_else(|| "GET".to_owned()).to_uppercase();
        let body: Option<String> = table.get("Body")?;
        if body.is_some() && (method == "GET" || method == "HEAD") {
            return Err(mlua::Error::runtime(format!(
                "RequestAsync: {method} requests cannot have a Body"
            )));
        }
        let mut headers = Vec::new();
        if let Some(given) = table.get::<Option<Table>>("Headers")? {
            for pair in given.pairs::<String, Value>() {
                let (name, value) = pair?;
                let value = match value {
                    Value::String(text) => text.to_str()?.to_owned(),
                    Value::UserData(data) if data.is::<Secret>() => {
                        data.borrow::<Secret>()?.0.clone()
                    }
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "RequestAsync: header {name} must be a string or a Secret, got a {}",
                            other.type_name()
                        )));
                    }
                };
                headers.push((name, value));
            }
        }
        Ok(Request {
            method,
            url,
            headers,
            body,
        })
    }

    /// Path and query of the URL.
    fn path(&self) -> String {
        let without_scheme = self.url.split_once("://").map_or("", |(_, rest)| rest);
        match without_scheme.find('/') {
            Some(index) => without_scheme[index..].to_owned(),
            None => "/".to_owned(),
        }
    }

    /// A command long-poll that the server may hold (`GET .../commands?...wait=N`, N > 0).
    fn is_held(&self) -> bool {
        let path = self.path();
        self.method == "GET"
            && path.contains("/commands")
            && path
                .split(['?', '&'])
                .filter_map(|pair| pair.strip_prefix("wait="))
                .any(|wait| wait.parse::<f64>().is_ok_and(|wait| wait > 0.0))
    }
}

/// What became of a request.
#[derive(Debug)]
pub enum Outcome {
    /// An HTTP answer (any status).
    Response {
        /// Status code.
        status: u16,
        /// Reason phrase.
        reason: String,
        /// Header names in lower case.
        headers: Vec<(String, String)>,
        /// Body text.
        body: String,
    },
    /// `RequestAsync` throws this message.
    Failed(String),
}

/// A request that finished.
#[derive(Debug)]
pub struct Completion {
    /// Which request.
    pub id: u64,
    /// Its outcome.
    pub outcome: Outcome,
}

struct Pending {
    thread: Thread,
    held: bool,
    record: usize,
}

/// Requests in flight, faults to inject and the record of everything sent.
pub struct HttpBridge {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
    completions: mpsc::UnboundedSender<Completion>,
    next_id: u64,
    pending: HashMap<u64, Pending>,
    records: Vec<RequestRecord>,
    faults: Vec<Fault>,
}

impl HttpBridge {
    /// A bridge whose finished requests arrive on `completions`.
    pub fn new(
        runtime: tokio::runtime::Handle,
        completions: mpsc::UnboundedSender<Completion>,
    ) -> Result<HttpBridge, reqwest::Error> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(HttpBridge {
            client,
            runtime,
            completions,
            next_id: 1,
            pending: HashMap::new(),
            records: Vec::new(),
            faults: Vec::new(),
        })
    }

    /// Adds a fault rule (earlier rules match first).
    pub fn inject(&mut self, fault: Fault) {
        self.faults.push(fault);
    }

    /// Injected faults not yet used up.
    pub fn faults_left(&self) -> usize {
        self.faults.iter().map(|fault| fault.times).sum()
    }

    /// Every request so far.
    pub fn records(&self) -> &[RequestRecord] {
        &self.records
    }

    /// Whether a request that is not a held long-poll is in flight.
    pub fn quick_in_flight(&self) -> bool {
        self.pending.values().any(|pending| !pending.held)
    }

    /// Whether any request is in flight.
    pub fn any_in_flight(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Starts `request` for `thread` at virtual time `now`.
    pub fn start(&mut self, now: f64, thread: Thread, request: Request) {
        let id = self.next_id;
        self.next_id += 1;
        let path = request.path();
        let fault = self.take_fault(&request.method, &path);
        self.records.push(RequestRecord {
            at: now,
            method: request.method.clone(),
            path,
            body: request.body.clone(),
            fault: fault.clone(),
            status: None,
            error: None,
        });
        self.pending.insert(
            id,
            Pending {
                thread,
                held: request.is_held(),
                record: self.records.len() - 1,
            },
        );
        let client = self.client.clone();
        let completions = self.completions.clone();
        self.runtime.spawn(async move {
            let outcome = match fault {
                Some(FaultKind::Throw) => {
                    Outcome::Failed("HttpError: ConnectFail (injected by the test)".to_owned())
                }
                Some(FaultKind::Status {
                    status,
                    retry_after,
                }) => injected_status(status, retry_after),
                Some(FaultKind::LoseResponse) => {
                    // Deliver the request, then forget the answer.
                    drop(send(&client, request).await);
                    Outcome::Failed(
                        "HttpError: Timedout (injected: the answer was lost)".to_owned(),
                    )
                }
                None => send(&client, request).await,
            };
            if completions.send(Completion { id, outcome }).is_err() {
                // The harness is gone; nobody waits for this answer any more.
            }
        });
    }

    /// Marks a request finished; returns the thread waiting for it.
    pub fn finish(&mut self, completion: &Completion) -> Option<Thread> {
        let pending = self.pending.remove(&completion.id)?;
        if let Some(record) = self.records.get_mut(pending.record) {
            match &completion.outcome {
                Outcome::Response { status, .. } => record.status = Some(*status),
                Outcome::Failed(message) => record.error = Some(message.clone()),
            }
        }
        Some(pending.thread)
    }

    fn take_fault(&mut self, method: &str, path: &str) -> Option<FaultKind> {
        let fault = self.faults.iter_mut().find(|fault| {
            fault.times > 0
                && fault
                    .method
                    .as_deref()
                    .is_none_or(|wanted| wanted == method)
                && path.contains(&fault.path_contains)
        })?;
        fault.times -= 1;
        Some(fault.kind.clone())
    }
}

fn injected_status(status: u16, retry_after: Option<u32>) -> Outcome {
    let code = match status {
        429 => "rate_limited",
        503 => "unavailable",
        _ => "internal",
    };
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    if let Some(seconds) = retry_after {
        headers.push(("retry-after".to_owned(), seconds.to_string()));
    }
    Outcome::Response {
        status,
        reason: reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|code| code.canonical_reason())
            .unwrap_or("")
            .to_owned(),
        headers,
        body: format!(
            r#"{{"error":{{"code":"{code}","message":"injected by the test harness"}}}}"#
        ),
    }
}

async fn send(client: &reqwest::Client, request: Request) -> Outcome {
    let method = match reqwest::Method::from_bytes(request.method.as_bytes()) {
        Ok(method) => method,
        Err(_) => {
            return Outcome::Failed(format!("HttpError: InvalidUrl (method {})", request.method));
        }
    };
    let mut builder = client.request(method, &request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(body) = request.body {
        builder = builder.body(body);
    }
    let response = match builder.send().await {
        Ok(response) => response,
        Err(error) if error.is_timeout() => {
            return Outcome::Failed(format!("HttpError: Timedout ({error})"));
        }
        Err(error) => return Outcome::Failed(format!("HttpError: ConnectFail ({error})")),
    };
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    match response.text().await {
        Ok(body) => Outcome::Response {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("").to_owned(),
            headers,
            body,
        },
        Err(error) => Outcome::Failed(format!("HttpError: NetFail ({error})")),
    }
}
