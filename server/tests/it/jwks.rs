//! Production auth: RS256/ES256 tokens verified against a JWKS served by a local HTTP server,
//! with issuer, audience and Clerk-style claim paths. Rotation is picked up through the unknown
//! `kid`, fetches are rate-limited, and forged algorithms (`none`, HS256 signed with the public
//! key), wrong issuer or audience and expired tokens are refused on REST and sockets alike.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use server::auth::AuthSettings;

use crate::rest::Rest;
use crate::support::{Auth, Client, refused, start_with};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "classhub";

/// A signing key made in the test, with its public JWK.
struct TestKey {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
    /// Bytes an attacker might use as an HMAC secret (the public key's own encoding).
    public_bytes: Vec<u8>,
}

fn es256_key(kid: &str) -> TestKey {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    use p256::pkcs8::EncodePrivateKey;
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let der = secret.to_pkcs8_der().expect("pkcs8");
    let point = secret.public_key().to_encoded_point(false);
    TestKey {
        kid: kid.to_owned(),
        algorithm: Algorithm::ES256,
        encoding: EncodingKey::from_ec_der(der.as_bytes()),
        jwk: json!({
            "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(point.x().expect("x")),
            "y": URL_SAFE_NO_PAD.encode(point.y().expect("y")),
        }),
        public_bytes: point.as_bytes().to_vec(),
    }
}

fn rs256_key(kid: &str) -> TestKey {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048).expect("rsa key");
    let der = private.to_pkcs1_der().expect("pkcs1");
    let n = private.n().to_bytes_be();
    TestKey {
        kid: kid.to_owned(),
        algorithm: Algorithm::RS256,
        encoding: EncodingKey::from_rsa_der(der.as_bytes()),
        jwk: json!({
            "kty": "RSA", "kid": kid, "use": "sig",
            "n": URL_SAFE_NO_PAD.encode(&n),
            "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        }),
        public_bytes: n,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// Clerk-shaped claims: the tenant is the organization, the role sits in public metadata.
fn claims(sub: &str, org: &str, role: &str) -> Value {
    json!({
        "sub": sub, "org_id": org, "public_metadata": {"role": role},
        "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "iat": now(), "name": "Test Person",
    })
}

fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.algorithm);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("sign")
}

/// The JWKS endpoint: serves whatever keys the test puts in, and counts fetches.
struct JwksServer {
    addr: SocketAddr,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    async fn start(keys: Vec<Value>) -> JwksServer {
        type Shared = (Arc<Mutex<Vec<Value>>>, Arc<AtomicUsize>);
        let keys = Arc::new(Mutex::new(keys));
        let fetches = Arc::new(AtomicUsize::new(0));
        let router = axum::Router::new()
            .route(
                "/.well-known/jwks.json",
                get(|State((keys, fetches)): State<Shared>| async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let keys = keys.lock().expect("keys").clone();
                    Json(json!({ "keys": keys }))
                }),
            )
            .with_state((Arc::clone(&keys), Arc::clone(&fetches)));
        let addr = crate::support::serve_stand_in(router).await;
        JwksServer {
            addr,
            keys,
            fetches,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/.well-known/jwks.json", self.addr)
    }

    fn serve(&self, keys: Vec<Value>) {
        *self.keys.lock().expect("keys") = keys;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

fn settings(url: String, refresh: Duration) -> AuthSettings {
    AuthSettings {
        jwks_url: Some(url),
        issuer: Some(ISSUER.into()),
        audience: vec![AUDIENCE.into()],
        role_claim: "public_metadata.role".into(),
        tenant_claim: "org_id".into(),
        leeway: Duration::from_secs(5),
        jwks_refresh_interval: refresh,
        jwks_max_age: Duration::from_secs(3600),
        ..AuthSettings::default()
    }
}

#[tokio::test]
async fn jwks_tokens_work_on_rest_and_sockets_and_forgeries_are_refused() {
    let rsa = rs256_key("rsa-1");
    let ec = es256_key("ec-1");
    let jwks = JwksServer::start(vec![rsa.jwk.clone(), ec.jwk.clone()]).await;
    let url = jwks.url();
    let test = start_with(move |config| {
        config.auth = settings(url, Duration::from_millis(100));
    })
    .await;
    let rest = Rest::new(test.addr);

    for key in [&rsa, &ec] {
        let token = sign(
            key,
            &claims(&format!("user_{}", key.kid), "org_a", "org:teacher"),
        );
        let me = rest.get("/api/v1/auth/me", &token).await;
        let body = me.expect(200);
        assert_eq!(body["tenant"], "org_a");
        assert_eq!(body["role"], "educator");
        let mut socket = Client::connect(test.addr, &token).await;
        socket.ping().await;
    }

    let refused_on_rest = |reason: &'static str| {
        let rest = rest.clone();
        move |token: String| async move {
            let answer = rest.get("/api/v1/auth/me", &token).await;
            assert_eq!(answer.status, 401, "{reason}: {}", answer.body);
            assert_eq!(answer.code(), "unauthorized", "{reason}");
        }
    };

    // alg "none": no signature at all.
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims("user_none", "org_a", "admin").to_string());
    refused_on_rest("alg none")(format!("{header}.{payload}.")).await;

    // HS256 "signed" with the RSA public key's bytes, naming the RSA key's kid.
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("rsa-1".into());
    let confused = jsonwebtoken::encode(
        &hs_header,
        &claims("user_confused", "org_a", "admin"),
        &EncodingKey::from_secret(&rsa.public_bytes),
    )
    .expect("sign");
    refused_on_rest("HS256 with the public key")(confused).await;

    // ES256 header on the RSA key's kid (alg pinned to the key).
    let mut swapped = Header::new(Algorithm::ES256);
    swapped.kid = Some("rsa-1".into());
    let swapped = jsonwebtoken::encode(
        &swapped,
        &claims("user_swap", "org_a", "admin"),
        &ec.encoding,
    )
    .expect("sign");
    refused_on_rest("alg swapped to another key's")(swapped).await;

    let mut wrong_issuer = claims("user_iss", "org_a", "admin");
    wrong_issuer["iss"] = json!("https://evil.test");
    refused_on_rest("wrong issuer")(sign(&ec, &wrong_issuer)).await;

    let mut wrong_audience = claims("user_aud", "org_a", "admin");
    wrong_audience["aud"] = json!("someone-else");
    refused_on_rest("wrong audience")(sign(&ec, &wrong_audience)).await;

    let mut expired = claims("user_exp", "org_a", "admin");
    expired["exp"] = json!(now() - 3600);
    refused_on_rest("expired")(sign(&ec, &expired)).await;

    let mut no_role = claims("user_norole", "org_a", "admin");
    no_role["public_metadata"] = json!({});
    refused_on_rest("no role claim")(sign(&ec, &no_role)).await;

    // A key the server has never seen, signed correctly: unknown kid.
    let stranger = es256_key("ec-stranger");
    refused_on_rest("unknown key")(sign(&stranger, &claims("user_x", "org_a", "admin"))).await;

    // Sockets refuse the same forgeries at the upgrade.
    let (status, _) = refused(
        Client::open(
            test.addr,
            Auth::Query(&sign(&stranger, &claims("user_y", "org_a", "admin"))),
            None,
        )
        .await
        .err()
        .expect("refused"),
    );
    assert_eq!(status, 401);

    // Rotation: the provider adds a new key; its first token triggers a fetch and is accepted.
    let rotated = es256_key("ec-2");
    jwks.serve(vec![rotated.jwk.clone()]);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let fresh = sign(&rotated, &claims("user_rotated", "org_a", "student"));
    rest.get("/api/v1/auth/me", &fresh).await.expect(200);
    // The HS256 development secret is not accepted in JWKS mode.
    let dev = crate::support::token("org_a", server::auth::Role::Admin, "user_dev");
    refused_on_rest("HS256 development token")(dev).await;
}

#[tokio::test]
async fn unknown_kids_fetch_the_jwks_at_most_once_per_refresh_interval() {
    let key = es256_key("ec-1");
    let jwks = JwksServer::start(vec![key.jwk.clone()]).await;
    let url = jwks.url();
    let test = start_with(move |config| {
        config.auth = settings(url, Duration::from_secs(3600));
    })
    .await;
    let rest = Rest::new(test.addr);
    let good = sign(&key, &claims("user_good", "org_b", "student"));
    rest.get("/api/v1/auth/me", &good).await.expect(200);
    let after_start = jwks.fetches();
    assert!(after_start >= 1, "fetched at start-up or on first use");
    for n in 0..20 {
        let forged_kid = es256_key(&format!("made-up-{n}"));
        let answer = rest
            .get(
                "/api/v1/auth/me",
                &sign(&forged_kid, &claims("user_bad", "org_b", "student")),
            )
            .await;
        assert_eq!(answer.status, 401, "{}", answer.body);
    }
    assert!(
        jwks.fetches() <= after_start + 1,
        "20 unknown kids caused {} fetches",
        jwks.fetches() - after_start
    );
    rest.get("/api/v1/auth/me", &good).await.expect(200);
}
