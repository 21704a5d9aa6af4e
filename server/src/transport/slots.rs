//! Counted places per key (a tenant, a client IP): a socket takes one for its lifetime and gives
//! it back when its [`Slot`] drops. Used for the per-tenant connection cap and the per-IP cap on
//! Pusher sockets, which need only a tenant's public app key.

use std::hash::Hash;
use std::sync::Arc;

use dashmap::DashMap;

/// Places in use per key. Keys with none in use are removed, so memory follows live sockets.
#[derive(Debug)]
pub struct Slots<K: Eq + Hash + Clone> {
    in_use: Arc<DashMap<K, usize>>,
}

impl<K: Eq + Hash + Clone> Default for Slots<K> {
    fn default() -> Self {
        Slots {
            in_use: Arc::new(DashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone> Slots<K> {
    /// Takes a place for `key` when fewer than `max` are in use.
    pub fn take(&self, key: K, max: usize) -> Option<Slot<K>> {
        let mut count = self.in_use.entry(key.clone()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot {
            in_use: Arc::clone(&self.in_use),
            key,
        })
    }

    /// Places in use for `key`.
    pub fn count(&self, key: &K) -> usize {
        self.in_use.get(key).map_or(0, |count| *count)
    }
}

/// One place, given back on drop.
#[derive(Debug)]
pub struct Slot<K: Eq + Hash + Clone> {
    in_use: Arc<DashMap<K, usize>>,
    key: K,
}

impl<K: Eq + Hash + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        if let Some(mut count) = self.in_use.get_mut(&self.key) {
            *count = count.saturating_sub(1);
        }
        self.in_use.remove_if(&self.key, |_, count| *count == 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_key_and_given_back() {
        let slots = Slots::default();
        let first = slots.take("acme", 2).expect("first");
        let _second = slots.take("acme", 2).expect("second");
        assert!(slots.take("acme", 2).is_none(), "the third is over the cap");
        assert!(slots.take("beta", 2).is_some(), "another key has its own");
        drop(first);
        assert_eq!(slots.count(&"acme"), 1);
        assert!(slots.take("acme", 2).is_some());
    }
}
