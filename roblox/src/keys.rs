//! Game-server keys: `chgk_` + 8 public characters + `_` + 32 secret characters (letters and
//! digits). The first 13 characters (`chgk_` and the public part) are the key's prefix, shown
//! in listings; only the SHA-256 of the whole key is stored.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// How every key starts.
pub const KEY_START: &str = "chgk_";
const PUBLIC_LEN: usize = 8;
const SECRET_LEN: usize = 32;

/// A freshly made key: show `key` once, store `prefix` and `hash`.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The whole key, to give to the game developer exactly once.
    pub key: String,
    /// The public prefix (`chgk_XXXXXXXX`), at most 16 characters.
    pub prefix: String,
    /// Lowercase hex SHA-256 of the key.
    pub hash: String,
}

/// Makes a new random key.
pub fn generate() -> NewKey {
    let mut rng = rand::rng();
    let mut part = |len: usize| -> String {
        (&mut rng)
            .sample_iter(Alphanumeric)
            .take(len)
            .map(char::from)
            .collect()
    };
    let public = part(PUBLIC_LEN);
    let secret = part(SECRET_LEN);
    let key = format!("{KEY_START}{public}_{secret}");
    NewKey {
        prefix: format!("{KEY_START}{public}"),
        hash: hash(&key),
        key,
    }
}

/// Lowercase hex SHA-256 of a presented key: what the store is searched by.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Whether `key` has the shape of a classhub game-server key (a cheap check before hashing and
/// a database look-up; a well-formed key may still be unknown or revoked).
pub fn well_formed(key: &str) -> bool {
    let Some(rest) = key.strip_prefix(KEY_START) else {
        return false;
    };
    let Some((public, secret)) = rest.split_once('_') else {
        return false;
    };
    public.len() == PUBLIC_LEN
        && secret.len() == SECRET_LEN
        && public
            .bytes()
            .chain(secret.bytes())
            .all(|byte| byte.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_well_formed_distinct_and_hashed() {
        let first = generate();
        let second = generate();
        assert!(well_formed(&first.key), "{}", first.key);
        assert_ne!(first.key, second.key);
        assert!(first.key.starts_with(&first.prefix));
        assert!(first.prefix.len() <= 16);
        assert_eq!(first.hash, hash(&first.key));
        assert_eq!(first.hash.len(), 64);
        assert!(
            first
                .hash
                .bytes()
                .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
        );
    }

    #[test]
    fn malformed_keys_are_recognised() {
        let key = generate().key;
        for bad in [
            "",
            "chgk_",
            "Bearer x",
            &key[..key.len() - 1],
            &format!("{key}x"),
            &key.replacen("chgk_", "chgx_", 1),
            &key.replacen('_', "-", 2),
        ] {
            assert!(!well_formed(bad), "{bad:?}");
        }
    }
}
