//! Pusher apps: every tenant has one (id, key, secret), so that pusher-js and the Pusher server
//! libraries can talk to classhub with the credentials `classhub apps show --tenant T` prints.
//!
//! Apps are derived, not stored: a tenant's app id is the tenant id, its key is
//! `{tenant}-{16 hex}` and its secret 32 hex characters, both HMAC-SHA256 of the tenant under the
//! server's master secret (`protocol::pusher::apps`, shared with the load-test harness). A key
//! therefore names its tenant and can be checked without a lookup.
//! `CLASSHUB_PUSHER_APP_ID`/`_KEY`/`_SECRET` fix the credentials of one tenant
//! (`CLASSHUB_PUSHER_TENANT`, default `default`) instead, e.g. to keep a frontend's existing key.

use protocol::pusher::apps::{derived_key, derived_secret};
use protocol::pusher::sign::verify_hex;

/// One tenant's Pusher credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PusherApp {
    /// The tenant the app belongs to.
    pub tenant: String,
    /// The app id (`/apps/{id}/…`).
    pub app_id: String,
    /// The public key (`/app/{key}`).
    pub key: String,
    /// The secret signing subscriptions and HTTP API requests.
    pub secret: String,
}

/// The apps of every tenant. Cheap to clone.
#[derive(Clone)]
pub struct PusherApps {
    master: String,
    fixed: Option<PusherApp>,
}

impl std::fmt::Debug for PusherApps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PusherApps")
            .field("fixed", &self.fixed.as_ref().map(|app| &app.tenant))
            .finish()
    }
}

impl PusherApps {
    /// Apps derived from `master`, with `fixed` replacing one tenant's.
    pub fn new(master: &str, fixed: Option<PusherApp>) -> PusherApps {
        PusherApps {
            master: master.to_owned(),
            fixed,
        }
    }

    /// The app of `tenant`.
    pub fn for_tenant(&self, tenant: &str) -> PusherApp {
        if let Some(fixed) = self.fixed.as_ref().filter(|fixed| fixed.tenant == tenant) {
            return fixed.clone();
        }
        PusherApp {
            tenant: tenant.to_owned(),
            app_id: tenant.to_owned(),
            key: derived_key(&self.master, tenant),
            secret: derived_secret(&self.master, tenant),
        }
    }

    /// The app a key belongs to.
    pub fn by_key(&self, key: &str) -> Option<PusherApp> {
        if let Some(fixed) = self.fixed.as_ref().filter(|fixed| fixed.key == key) {
            return Some(fixed.clone());
        }
        // Keys are public, so a plain comparison is enough.
        let (tenant, _) = key.rsplit_once('-')?;
        let derived = self.for_tenant(tenant);
        (derived.key == key).then_some(derived)
    }

    /// The app with this id.
    pub fn by_id(&self, app_id: &str) -> Option<PusherApp> {
        if let Some(fixed) = self.fixed.as_ref().filter(|fixed| fixed.app_id == app_id) {
            return Some(fixed.clone());
        }
        let derived = self.for_tenant(app_id);
        // A fixed tenant is only reachable by its fixed id.
        (derived.app_id == app_id).then_some(derived)
    }
}

/// Whether `auth` (`key:signature`) signs `message` for `app`.
pub fn check_auth(app: &PusherApp, auth: &str, message: &str) -> bool {
    match auth.split_once(':') {
        Some((key, signature)) => key == app.key && verify_hex(&app.secret, message, signature),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_tenant_and_cannot_be_forged() {
        let apps = PusherApps::new("master-secret", None);
        let acme = apps.for_tenant("acme");
        assert!(acme.key.starts_with("acme-"));
        assert_eq!(apps.by_key(&acme.key), Some(acme.clone()));
        assert_eq!(apps.by_id("acme"), Some(acme.clone()));
        assert_eq!(apps.by_key("acme-0000000000000000"), None);
        assert_eq!(apps.by_key("nokey"), None);
        assert_ne!(apps.for_tenant("globex").secret, acme.secret);
        assert_ne!(
            PusherApps::new("other", None).for_tenant("acme").key,
            acme.key
        );
    }

    #[test]
    fn a_fixed_app_replaces_its_tenants_derived_one() {
        let fixed = PusherApp {
            tenant: "default".into(),
            app_id: "1".into(),
            key: "k".into(),
            secret: "s".into(),
        };
        let apps = PusherApps::new("master", Some(fixed.clone()));
        assert_eq!(apps.for_tenant("default"), fixed);
        assert_eq!(apps.by_key("k"), Some(fixed.clone()));
        assert_eq!(apps.by_id("1"), Some(fixed));
        assert_eq!(apps.by_id("default"), None);
    }
}
