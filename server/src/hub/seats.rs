//! [`Seats`]: the plan's seat limit, enforced live. A seat is a student online in a class or
//! game room of the tenant; a student holds one seat however many sockets and rooms they have,
//! from their first such join until their last socket closes. A join that needs a new seat
//! when all are taken is refused; so is any new seat while the tenant's subscription has lapsed.
//! Students already seated keep their seat when the plan shrinks or lapses, so a class is never
//! cut off mid-lesson.
//!
//! The billing code sets each tenant's entitlement ([`Seats::set_entitlement`]); tenants it never
//! named get the default (the free plan's seats).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

/// Seat counts and entitlements of every tenant on this node.
#[derive(Debug)]
pub struct Seats {
    /// Seats of a tenant without an entitlement of its own (`usize::MAX`: unlimited).
    default_limit: AtomicUsize,
    /// Per tenant. The entry's lock is held only for the counting in each method (no `.await`).
    tenants: DashMap<String, TenantSeats>,
}

#[derive(Debug)]
struct TenantSeats {
    /// Seats the plan grants; `None`: the default.
    limit: Option<usize>,
    /// The subscription lapsed: nobody new may take a seat.
    lapsed: bool,
    /// Seated students and how many of their sessions hold the seat.
    holders: HashMap<String, usize>,
}

/// Why a seat was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeatRefusal {
    /// Every seat of the plan is taken.
    #[error(
        "all {seats} seats of your school's plan are in use right now; ask your teacher to free a seat or upgrade the plan"
    )]
    Full {
        /// The plan's seats.
        seats: usize,
    },
    /// The tenant's subscription has lapsed.
    #[error(
        "your school's subscription has lapsed, so no new class sessions can start; ask your teacher"
    )]
    Lapsed,
}

impl Default for Seats {
    fn default() -> Self {
        Seats {
            default_limit: AtomicUsize::new(usize::MAX),
            tenants: DashMap::new(),
        }
    }
}

impl Seats {
    /// Sets the seats of tenants without an entitlement of their own.
    pub fn set_default_limit(&self, seats: usize) {
        self.default_limit.store(seats, Ordering::Relaxed);
    }

    /// Sets a tenant's seats and whether its subscription has lapsed. Seated students stay.
    pub fn set_entitlement(&self, tenant: &str, seats: usize, lapsed: bool) {
        let mut entry = self
            .tenants
            .entry(tenant.to_owned())
            .or_insert_with(TenantSeats::new);
        entry.limit = Some(seats);
        entry.lapsed = lapsed;
    }

    /// Whether the tenant's subscription has lapsed.
    pub fn is_lapsed(&self, tenant: &str) -> bool {
        self.tenants.get(tenant).is_some_and(|entry| entry.lapsed)
    }

    /// `(in use, limit)` for a tenant.
    pub fn usage(&self, tenant: &str) -> (usize, usize) {
        let default = self.default_limit.load(Ordering::Relaxed);
        match self.tenants.get(tenant) {
            Some(entry) => (entry.holders.len(), entry.limit.unwrap_or(default)),
            None => (0, default),
        }
    }

    /// Seats `user` (or adds a session to their seat).
    pub fn take(&self, tenant: &str, user: &str) -> Result<(), SeatRefusal> {
        let default = self.default_limit.load(Ordering::Relaxed);
        let mut entry = self
            .tenants
            .entry(tenant.to_owned())
            .or_insert_with(TenantSeats::new);
        if let Some(sessions) = entry.holders.get_mut(user) {
            *sessions += 1;
            return Ok(());
        }
        if entry.lapsed {
            return Err(SeatRefusal::Lapsed);
        }
        let limit = entry.limit.unwrap_or(default);
        if entry.holders.len() >= limit {
            return Err(SeatRefusal::Full { seats: limit });
        }
        entry.holders.insert(user.to_owned(), 1);
        Ok(())
    }

    /// Gives back one session's hold on `user`'s seat; the seat frees with the last one.
    pub fn release(&self, tenant: &str, user: &str) {
        if let Some(mut entry) = self.tenants.get_mut(tenant)
            && let Some(sessions) = entry.holders.get_mut(user)
        {
            *sessions -= 1;
            if *sessions == 0 {
                entry.holders.remove(user);
            }
        }
    }
}

impl TenantSeats {
    fn new() -> TenantSeats {
        TenantSeats {
            limit: None,
            lapsed: false,
            holders: HashMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_student_holds_one_seat_across_sessions_and_frees_it_with_the_last() {
        let seats = Seats::default();
        seats.set_entitlement("t", 1, false);
        assert_eq!(seats.take("t", "s1"), Ok(()));
        assert_eq!(seats.take("t", "s1"), Ok(()));
        assert_eq!(seats.take("t", "s2"), Err(SeatRefusal::Full { seats: 1 }));
        seats.release("t", "s1");
        assert_eq!(seats.take("t", "s2"), Err(SeatRefusal::Full { seats: 1 }));
        seats.release("t", "s1");
        assert_eq!(seats.take("t", "s2"), Ok(()));
        assert_eq!(seats.usage("t"), (1, 1));
    }

    #[test]
    fn a_lapsed_tenant_keeps_seated_students_and_seats_nobody_new() {
        let seats = Seats::default();
        seats.set_default_limit(5);
        assert_eq!(seats.take("t", "s1"), Ok(()));
        seats.set_entitlement("t", 5, true);
        assert_eq!(seats.take("t", "s1"), Ok(()));
        assert_eq!(seats.take("t", "s2"), Err(SeatRefusal::Lapsed));
        assert!(seats.is_lapsed("t"));
        assert!(!seats.is_lapsed("other"));
    }
}
