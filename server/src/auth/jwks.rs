//! The JWKS key cache: public keys by `kid`, each with the one algorithm it may verify, fetched
//! from the configured URL. An unknown `kid` (a key rotation) triggers a fetch, at most once per
//! refresh interval whatever the number of tokens asking, so a flood of forged `kid`s cannot turn
//! the server into a load generator against the identity provider. Symmetric (`oct`) keys in the
//! set are ignored: a JWKS only ever vouches for asymmetric signatures.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::time::Instant;

use super::AuthError;

/// Longest wait for the JWKS endpoint.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Keys from one JWKS URL.
pub(super) struct KeyCache {
    url: String,
    client: reqwest::Client,
    refresh_interval: Duration,
    max_age: Duration,
    /// The current key set. Read on every token; replaced whole by a fetch. A `std` lock: held
    /// only to clone an `Arc`, never across an `.await`.
    keys: RwLock<Arc<KeySet>>,
    /// Serializes fetches (single flight) and remembers when the last one started.
    fetch: tokio::sync::Mutex<Option<Instant>>,
}

#[derive(Default)]
pub(super) struct KeySet {
    /// Keys by `kid` (a key without one is stored under `""`; a token without a `kid` may use
    /// the only key of a one-key set).
    by_kid: HashMap<String, (DecodingKey, Algorithm)>,
    /// When this set was fetched; `None` before the first successful fetch.
    fetched_at: Option<Instant>,
}

impl KeyCache {
    pub(super) fn new(url: String, refresh_interval: Duration, max_age: Duration) -> KeyCache {
        KeyCache {
            url,
            client: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .unwrap_or_default(),
            refresh_interval,
            max_age,
            keys: RwLock::new(Arc::new(KeySet::default())),
            fetch: tokio::sync::Mutex::new(None),
        }
    }

    pub(super) fn url(&self) -> &str {
        &self.url
    }

    fn current(&self) -> Arc<KeySet> {
        Arc::clone(
            &self
                .keys
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// The key (and its pinned algorithm) for a token's `kid`, fetching the set again when the
    /// `kid` is unknown or the set is stale (rate-limited).
    pub(super) async fn key_for(
        &self,
        kid: Option<&str>,
    ) -> Result<(DecodingKey, Algorithm), AuthError> {
        let keys = self.current();
        let stale = keys
            .fetched_at
            .is_none_or(|at| at.elapsed() >= self.max_age);
        if !stale && let Some(found) = keys.find(kid) {
            return Ok(found);
        }
        let keys = match self.refresh_if_due(kid).await {
            Ok(keys) => keys,
            // A stale set still verifies while the endpoint is down.
            Err(failure) => match keys.find(kid) {
                Some(found) => return Ok(found),
                None => return Err(failure),
            },
        };
        keys.find(kid).ok_or_else(|| match kid {
            Some(kid) => AuthError::Invalid(format!("unknown signing key id {kid:?}")),
            None => AuthError::Invalid("the token names no signing key (kid)".into()),
        })
    }

    /// Fetches the set unless another caller just did (then its result is used) or the last
    /// fetch started less than the refresh interval ago.
    async fn refresh_if_due(&self, kid: Option<&str>) -> Result<Arc<KeySet>, AuthError> {
        let mut last_fetch = self.fetch.lock().await;
        let keys = self.current();
        if let Some(at) = *last_fetch
            && at.elapsed() < self.refresh_interval
        {
            // Fetched moments ago (maybe while this caller waited for the lock): use that.
            return if keys.fetched_at.is_some() || keys.find(kid).is_some() {
                Ok(keys)
            } else {
                Err(AuthError::KeysUnavailable)
            };
        }
        *last_fetch = Some(Instant::now());
        drop(last_fetch);
        self.refresh().await.map_err(|cause| {
            tracing::warn!(%cause, url = %self.url, "fetching the JWKS failed");
            AuthError::KeysUnavailable
        })
    }

    /// Fetches the set now and installs it.
    pub(super) async fn refresh(&self) -> Result<Arc<KeySet>, String> {
        let response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|err| err.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let body: Value = response.json().await.map_err(|err| err.to_string())?;
        let keys = body
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the JWKS has no keys array")?;
        let mut set = KeySet {
            by_kid: HashMap::new(),
            fetched_at: Some(Instant::now()),
        };
        for key in keys {
            match usable_key(key) {
                Ok((kid, decoding, algorithm)) => {
                    set.by_kid.insert(kid, (decoding, algorithm));
                }
                Err(reason) => tracing::debug!(%reason, "skipping a JWKS key"),
            }
        }
        tracing::info!(url = %self.url, keys = set.by_kid.len(), "JWKS loaded");
        let set = Arc::new(set);
        *self
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::clone(&set);
        Ok(set)
    }
}

impl KeySet {
    fn find(&self, kid: Option<&str>) -> Option<(DecodingKey, Algorithm)> {
        match kid {
            Some(kid) => self.by_kid.get(kid).cloned(),
            None if self.by_kid.len() == 1 => self.by_kid.values().next().cloned(),
            None => None,
        }
    }
}

/// A JWK's id, decoding key and the one algorithm it verifies; refuses symmetric keys and keys
/// meant for encryption.
fn usable_key(key: &Value) -> Result<(String, DecodingKey, Algorithm), String> {
    let jwk: Jwk = serde_json::from_value(key.clone()).map_err(|err| err.to_string())?;
    let kid = jwk.common.key_id.clone().unwrap_or_default();
    if matches!(
        jwk.common.public_key_use,
        Some(jsonwebtoken::jwk::PublicKeyUse::Encryption)
    ) {
        return Err(format!("key {kid:?} is for encryption"));
    }
    let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::OctetKey(_), _) => {
            return Err("symmetric keys are not trusted".into());
        }
        (AlgorithmParameters::RSA(_), None) => Algorithm::RS256,
        (AlgorithmParameters::RSA(_), Some(named)) => match named {
            KeyAlgorithm::RS256 => Algorithm::RS256,
            KeyAlgorithm::RS384 => Algorithm::RS384,
            KeyAlgorithm::RS512 => Algorithm::RS512,
            KeyAlgorithm::PS256 => Algorithm::PS256,
            KeyAlgorithm::PS384 => Algorithm::PS384,
            KeyAlgorithm::PS512 => Algorithm::PS512,
            other => return Err(format!("RSA key {kid:?} names algorithm {other:?}")),
        },
        (AlgorithmParameters::EllipticCurve(params), named) => match (&params.curve, named) {
            (EllipticCurve::P256, None | Some(KeyAlgorithm::ES256)) => Algorithm::ES256,
            (EllipticCurve::P384, None | Some(KeyAlgorithm::ES384)) => Algorithm::ES384,
            (curve, named) => return Err(format!("EC key {kid:?}: {curve:?} with {named:?}")),
        },
        (AlgorithmParameters::OctetKeyPair(_), None | Some(KeyAlgorithm::EdDSA)) => {
            Algorithm::EdDSA
        }
        (other, named) => return Err(format!("unsupported key {kid:?}: {other:?} {named:?}")),
    };
    let decoding = DecodingKey::from_jwk(&jwk).map_err(|err| err.to_string())?;
    Ok((kid, decoding, algorithm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_encryption_keys_are_refused() {
        let oct = serde_json::json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"});
        assert!(usable_key(&oct).is_err());
        let enc =
            serde_json::json!({"kty": "RSA", "kid": "e", "use": "enc", "n": "AQAB", "e": "AQAB"});
        assert!(usable_key(&enc).is_err());
        let rsa = serde_json::json!({"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"});
        assert_eq!(
            usable_key(&rsa).map(|(_, _, alg)| alg),
            Ok(Algorithm::RS256)
        );
    }
}
