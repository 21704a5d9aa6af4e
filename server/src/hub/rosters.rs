//! The hub's copy of who belongs where: class rosters and teachers, parent links and the game
//! sessions linked to a class. Loaded from the database at start-up and kept current by the REST
//! handlers that change them (and by the Roblox routes that link a game to a class), so a join is
//! checked without a query. Every change ticks the tenant's rules clock ([`Rosters::watch`]):
//! each open connection of the tenant re-checks what it holds against the rules as they are now
//! (see `Session::recheck`), so a change reaches sockets that are already connected.
//!
//! Rule: in a tenant that has made classes, a student joins only the class rooms whose roster
//! lists them, and the game rooms linked to those classes. A tenant that has never made a class
//! (a development setup that has not used the REST API) keeps the open rule: students join any
//! class room. Archiving a tenant's last class does not bring the open rule back.

use std::collections::{HashMap, HashSet};
use std::sync::RwLock;

use dashmap::DashMap;
use tokio::sync::watch;

/// Rosters, parent links and game links of every tenant. Shared by the hub; one lock, held only
/// for a map look-up or update, never across an `.await`.
#[derive(Debug, Default)]
pub struct Rosters {
    state: RwLock<State>,
    /// tenant → its rules clock: ticked by every change of the tenant's rosters, links, users'
    /// roles or standing; open connections watch it.
    clocks: DashMap<String, watch::Sender<u64>>,
}

#[derive(Debug, Default)]
struct State {
    /// (tenant, class) → its teacher and the students on its roster. Every live class has an
    /// entry.
    classes: HashMap<(String, String), ClassEntry>,
    /// Tenants that have made a class (live or archived): the open rule is over for them.
    managed: HashSet<String>,
    /// (tenant, parent) → children.
    children: HashMap<(String, String), HashSet<String>>,
    /// (tenant, job id) → the class a running game session plays for.
    games: HashMap<(String, String), String>,
}

#[derive(Debug, Default)]
struct ClassEntry {
    teacher: Option<String>,
    students: HashSet<String>,
}

/// Everything the rosters hold, as loaded at start-up.
#[derive(Debug, Default)]
pub struct RosterSnapshot {
    /// (tenant, class, teacher) of every live class.
    pub classes: Vec<(String, String, Option<String>)>,
    /// Tenants that have made a class, archived ones included.
    pub tenants_with_classes: Vec<String>,
    /// (tenant, class, student) roster entries.
    pub members: Vec<(String, String, String)>,
    /// (tenant, parent, child) links.
    pub parent_links: Vec<(String, String, String)>,
    /// (tenant, job id, class) of running game sessions.
    pub games: Vec<(String, String, String)>,
}

impl Rosters {
    /// Replaces everything with `snapshot`.
    pub fn load(&self, snapshot: RosterSnapshot) {
        let mut state = State::default();
        state.managed.extend(snapshot.tenants_with_classes);
        for (tenant, class, teacher) in snapshot.classes {
            state.managed.insert(tenant.clone());
            state.classes.entry((tenant, class)).or_default().teacher = teacher;
        }
        for (tenant, class, student) in snapshot.members {
            if let Some(entry) = state.classes.get_mut(&(tenant, class)) {
                entry.students.insert(student);
            }
        }
        for (tenant, parent, child) in snapshot.parent_links {
            state
                .children
                .entry((tenant, parent))
                .or_default()
                .insert(child);
        }
        for (tenant, job, class) in snapshot.games {
            state.games.insert((tenant, job), class);
        }
        *self.write() = state;
    }

    /// The tenant's rules clock: it ticks whenever something that decides who may be where
    /// changes. Connections watch it and re-check what they hold.
    pub fn watch(&self, tenant: &str) -> watch::Receiver<u64> {
        self.clocks
            .entry(tenant.to_owned())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    /// Ticks the tenant's rules clock (after a roster, link, role or standing change).
    pub fn changed(&self, tenant: &str) {
        if let Some(clock) = self.clocks.get(tenant) {
            clock.send_modify(|tick| *tick = tick.wrapping_add(1));
        }
    }

    /// A class was created.
    pub fn add_class(&self, tenant: &str, class: &str, teacher: Option<&str>) {
        {
            let mut state = self.write();
            let key = (tenant.to_owned(), class.to_owned());
            if let std::collections::hash_map::Entry::Vacant(entry) = state.classes.entry(key) {
                entry.insert(ClassEntry {
                    teacher: teacher.map(str::to_owned),
                    students: HashSet::new(),
                });
            }
            state.managed.insert(tenant.to_owned());
        }
        self.changed(tenant);
    }

    /// A class got a new teacher (or none).
    pub fn set_teacher(&self, tenant: &str, class: &str, teacher: Option<&str>) {
        if let Some(entry) = self
            .write()
            .classes
            .get_mut(&(tenant.to_owned(), class.to_owned()))
        {
            entry.teacher = teacher.map(str::to_owned);
        }
        self.changed(tenant);
    }

    /// A class was archived; returns the students who were on its roster.
    pub fn remove_class(&self, tenant: &str, class: &str) -> Vec<String> {
        let removed = self
            .write()
            .classes
            .remove(&(tenant.to_owned(), class.to_owned()));
        self.changed(tenant);
        removed
            .map(|entry| entry.students.into_iter().collect())
            .unwrap_or_default()
    }

    /// Puts a student on a roster (or takes them off).
    pub fn set_member(&self, tenant: &str, class: &str, student: &str, on_roster: bool) {
        if let Some(entry) = self
            .write()
            .classes
            .get_mut(&(tenant.to_owned(), class.to_owned()))
        {
            if on_roster {
                entry.students.insert(student.to_owned());
            } else {
                entry.students.remove(student);
            }
        }
        self.changed(tenant);
    }

    /// Forgets an erased user: off every roster, no longer any class's teacher, no parent or
    /// child links; then ticks the tenant's clock so open connections re-check.
    pub fn forget_user(&self, tenant: &str, user: &str) {
        {
            let mut state = self.write();
            for ((class_tenant, _), entry) in state.classes.iter_mut() {
                if class_tenant == tenant {
                    entry.students.remove(user);
                    if entry.teacher.as_deref() == Some(user) {
                        entry.teacher = None;
                    }
                }
            }
            state.children.remove(&(tenant.to_owned(), user.to_owned()));
            for ((link_tenant, _), children) in state.children.iter_mut() {
                if link_tenant == tenant {
                    children.remove(user);
                }
            }
        }
        self.changed(tenant);
    }

    /// Links a parent to a child (or unlinks them).
    pub fn set_child(&self, tenant: &str, parent: &str, child: &str, linked: bool) {
        {
            let mut state = self.write();
            let key = (tenant.to_owned(), parent.to_owned());
            if linked {
                state
                    .children
                    .entry(key)
                    .or_default()
                    .insert(child.to_owned());
            } else if let Some(children) = state.children.get_mut(&key) {
                children.remove(child);
            }
        }
        self.changed(tenant);
    }

    /// Links a running game server (by JobId) to the class it plays for; `None` unlinks it (the
    /// session ended). For the Roblox routes.
    pub fn set_game_class(&self, tenant: &str, job: &str, class: Option<&str>) {
        {
            let mut state = self.write();
            let key = (tenant.to_owned(), job.to_owned());
            match class {
                Some(class) => {
                    state.games.insert(key, class.to_owned());
                }
                None => {
                    state.games.remove(&key);
                }
            }
        }
        self.changed(tenant);
    }

    /// Whether a student may join `class:{tenant}:{class}`.
    pub fn student_may_join_class(&self, tenant: &str, class: &str, student: &str) -> bool {
        let state = self.read();
        if !state.managed.contains(tenant) {
            return true;
        }
        state
            .classes
            .get(&(tenant.to_owned(), class.to_owned()))
            .is_some_and(|entry| entry.students.contains(student))
    }

    /// Whether `educator` teaches `class:{tenant}:{class}`. A tenant that has never made a class
    /// keeps the open rule (any educator), as for students.
    pub fn teaches(&self, tenant: &str, class: &str, educator: &str) -> bool {
        let state = self.read();
        if !state.managed.contains(tenant) {
            return true;
        }
        state
            .classes
            .get(&(tenant.to_owned(), class.to_owned()))
            .is_some_and(|entry| entry.teacher.as_deref() == Some(educator))
    }

    /// Whether `educator` teaches a live class with `student` on its roster (their legitimate
    /// educational interest in that student's records). A tenant that has never made a class
    /// keeps the open rule (any educator).
    pub fn teaches_student(&self, tenant: &str, educator: &str, student: &str) -> bool {
        let state = self.read();
        if !state.managed.contains(tenant) {
            return true;
        }
        state.classes.iter().any(|((class_tenant, _), entry)| {
            class_tenant == tenant
                && entry.teacher.as_deref() == Some(educator)
                && entry.students.contains(student)
        })
    }

    /// The class a running game session plays for, if it is linked to one.
    pub fn class_of_game(&self, tenant: &str, job: &str) -> Option<String> {
        self.read()
            .games
            .get(&(tenant.to_owned(), job.to_owned()))
            .cloned()
    }

    /// Whether a student may join `game:{tenant}:{job}`: the game plays for a class whose roster
    /// lists them.
    pub fn student_may_join_game(&self, tenant: &str, job: &str, student: &str) -> bool {
        let state = self.read();
        state
            .games
            .get(&(tenant.to_owned(), job.to_owned()))
            .and_then(|class| state.classes.get(&(tenant.to_owned(), class.clone())))
            .is_some_and(|entry| entry.students.contains(student))
    }

    /// The game rooms (job ids) linked to a class.
    pub fn games_of_class(&self, tenant: &str, class: &str) -> Vec<String> {
        let state = self.read();
        state
            .games
            .iter()
            .filter(|((game_tenant, _), game_class)| game_tenant == tenant && *game_class == class)
            .map(|((_, job), _)| job.clone())
            .collect()
    }

    /// Whether `tenant` has made classes (its roster rules apply; before, the open rule does).
    pub fn manages(&self, tenant: &str) -> bool {
        self.read().managed.contains(tenant)
    }

    /// The live classes whose roster lists `student`.
    pub fn classes_of_student(&self, tenant: &str, student: &str) -> Vec<String> {
        let state = self.read();
        state
            .classes
            .iter()
            .filter(|((class_tenant, _), entry)| {
                class_tenant == tenant && entry.students.contains(student)
            })
            .map(|((_, class), _)| class.clone())
            .collect()
    }

    /// Whether `child` is linked to `parent` in the database.
    pub fn is_child(&self, tenant: &str, parent: &str, child: &str) -> bool {
        self.read()
            .children
            .get(&(tenant.to_owned(), parent.to_owned()))
            .is_some_and(|children| children.contains(child))
    }

    /// The children linked to `parent` in the database.
    pub fn children_of(&self, tenant: &str, parent: &str) -> Vec<String> {
        self.read()
            .children
            .get(&(tenant.to_owned(), parent.to_owned()))
            .map(|children| children.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosters_gate_students_once_a_tenant_has_classes() {
        let rosters = Rosters::default();
        assert!(
            rosters.student_may_join_class("acme", "c1", "s1"),
            "no classes yet: open"
        );
        rosters.add_class("acme", "c1", Some("t1"));
        assert!(!rosters.student_may_join_class("acme", "c1", "s1"));
        assert!(rosters.teaches("acme", "c1", "t1"));
        assert!(!rosters.teaches("acme", "c1", "t2"));
        assert!(
            !rosters.student_may_join_class("acme", "c2", "s1"),
            "unknown class"
        );
        rosters.set_member("acme", "c1", "s1", true);
        assert!(rosters.student_may_join_class("acme", "c1", "s1"));
        assert!(
            rosters.student_may_join_class("beta", "c1", "s1"),
            "other tenant has none"
        );
        assert!(!rosters.student_may_join_game("acme", "job-1", "s1"));
        rosters.set_game_class("acme", "job-1", Some("c1"));
        assert!(rosters.student_may_join_game("acme", "job-1", "s1"));
        rosters.set_member("acme", "c1", "s1", false);
        assert!(!rosters.student_may_join_class("acme", "c1", "s1"));
        assert!(!rosters.student_may_join_game("acme", "job-1", "s1"));
        assert_eq!(rosters.remove_class("acme", "c1"), Vec::<String>::new());
        assert!(
            !rosters.student_may_join_class("acme", "c1", "s1"),
            "archiving the last class does not open the tenant's class rooms"
        );
        assert!(!rosters.teaches("acme", "c1", "t2"));
    }

    #[test]
    fn a_tenant_whose_classes_are_all_archived_stays_gated_after_a_restart() {
        let rosters = Rosters::default();
        rosters.load(RosterSnapshot {
            tenants_with_classes: vec!["acme".to_owned()],
            ..RosterSnapshot::default()
        });
        assert!(!rosters.student_may_join_class("acme", "c1", "s1"));
        assert!(!rosters.teaches("acme", "c1", "t1"));
        assert!(rosters.student_may_join_class("beta", "c1", "s1"));
    }
}
