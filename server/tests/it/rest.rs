//! A small REST client for the `/api/v1` tests: bearer tokens, JSON bodies, and answers as
//! (status, JSON body, Retry-After).

use std::net::SocketAddr;

use serde_json::Value;

/// One REST answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<String>,
}

impl Answer {
    /// The error code of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.body);
        &self.body
    }

    /// Asserts the status and that the error message mentions `needle` (what to set or fix).
    #[track_caller]
    pub fn expect_error(&self, status: u16, needle: &str) {
        self.expect(status);
        let message = self.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{needle:?} not in {}", self.body);
    }
}

#[derive(Clone)]
pub struct Rest {
    base: String,
    http: reqwest::Client,
}

impl Rest {
    pub fn new(addr: SocketAddr) -> Rest {
        Rest {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    /// `http://{addr}`.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = tokio::time::timeout(crate::support::PATIENCE, request.send())
            .await
            .expect("answer in time")
            .expect("request");
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            body,
            retry_after,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("POST", path, Some(token), Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Answer {
        self.call("PATCH", path, Some(token), Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Answer {
        self.call("DELETE", path, Some(token), None).await
    }
}
