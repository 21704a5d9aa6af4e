//! The Pusher app classhub derives for each tenant from its master secret: app id = the tenant
//! id, key = `{tenant}-{16 hex}`, secret = 32 hex, the hex being HMAC-SHA256 of the tenant under
//! the master secret. A key therefore names its tenant and is checked without a lookup.
//!
//! Pure functions, so that the server (which accepts these credentials, in
//! `transport::pusher_apps`) and the load-test harness (which connects with them) derive them
//! in one place.

use super::sign::hmac_hex;

/// The public key of `tenant`'s derived app: `{tenant}-{16 hex}`.
pub fn derived_key(master: &str, tenant: &str) -> String {
    format!(
        "{tenant}-{}",
        &hmac_hex(master, &format!("pusher-key:{tenant}"))[..16]
    )
}

/// The secret of `tenant`'s derived app: 32 hex characters.
pub fn derived_secret(master: &str, tenant: &str) -> String {
    hmac_hex(master, &format!("pusher-secret:{tenant}"))[..32].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_credentials_do_not_change_between_releases() {
        // Frontends keep these keys: a change here would lock every deployed app out.
        assert_eq!(
            derived_key("master-secret", "acme"),
            "acme-bd412ea2835e4590"
        );
        assert_eq!(
            derived_secret("master-secret", "acme"),
            "a7f8b07080129519a82ad25a12d9277b"
        );
    }
}
