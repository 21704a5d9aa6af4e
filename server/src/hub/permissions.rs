//! Who may join and publish where, and act on which class: the one rule REST (`load_class`),
//! `/ws`, Pusher (`/pusher/auth` and the re-check of a signed subscription) and the Roblox
//! paths all call, always against the rules as they are now (rosters, teachers and links from
//! `rosters.rs`; the caller's current role from the directory).
//!
//! Tenancy first: nobody crosses tenants. Then [`check_class`]: admins act on every class of
//! their tenant, educators on the classes they teach, students view the classes whose roster
//! lists them. Joins: students join the class rooms they may view, the game rooms linked to
//! those classes and their own user room, and publish only `chat` into rooms they joined (and
//! ephemeral events, never stored, into the class and game rooms they joined);
//! educators and admins join (and publish anything, commands included, without joining) the
//! class rooms they may manage and the game rooms of those classes (a game room linked to no
//! class is open to the tenant's staff); parents join their children's user rooms and publish
//! nothing. Public Pusher channels (`channel:` rooms without a `private-`/`presence-` name) are
//! open to the whole tenant. A tenant without any class (a development setup that has not used
//! the REST API) keeps the open rule for class rooms.

use protocol::{RoomId, RoomKind};

use super::rosters::Rosters;
use crate::auth::{Identity, Role};

/// Why an action was refused; the sentence goes to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// The room is in another tenant.
    #[error("room {room} belongs to another tenant")]
    OtherTenant {
        /// The room asked for.
        room: String,
    },
    /// The role may not join this room.
    #[error("a {role} may not join {room}")]
    Join {
        /// The caller's role.
        role: &'static str,
        /// The room asked for.
        room: String,
    },
    /// A student asked for a class (or game) room whose roster does not list them.
    #[error("you are not on the roster of {room}; ask your teacher to add you to the class")]
    NotOnRoster {
        /// The room asked for.
        room: String,
    },
    /// An educator asked to act on a class they do not teach.
    #[error("only the teacher of class {class} or an admin may do this")]
    NotTeacher {
        /// The class.
        class: String,
    },
    /// The role may not act on classes this way.
    #[error("a {role} may not {action} class {class}")]
    Class {
        /// The caller's role.
        role: &'static str,
        /// What was asked.
        action: &'static str,
        /// The class.
        class: String,
    },
    /// The role may not publish this kind of event here.
    #[error("a {role} may not publish {kind:?} events to {room}")]
    Publish {
        /// The caller's role.
        role: &'static str,
        /// The event kind.
        kind: String,
        /// The room.
        room: String,
    },
}

/// What a caller wants to do with a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassAccess {
    /// Read it, or be in its room (its teacher, admins, students on its roster).
    View,
    /// Change it and its roster, read its reports, send its room commands (its teacher, admins).
    Manage,
}

/// Whether `identity` may `access` class `class` of `tenant`: the one class rule.
pub fn check_class(
    identity: &Identity,
    tenant: &str,
    class: &str,
    access: ClassAccess,
    rosters: &Rosters,
) -> Result<(), Denied> {
    if identity.tenant != tenant {
        return Err(Denied::OtherTenant {
            room: format!("class:{tenant}:{class}"),
        });
    }
    let allowed = match (identity.role, access) {
        (Role::Admin, _) => true,
        (Role::Educator, _) => {
            if rosters.teaches(tenant, class, &identity.user) {
                true
            } else {
                return Err(Denied::NotTeacher {
                    class: class.to_owned(),
                });
            }
        }
        (Role::Student, ClassAccess::View) => {
            if rosters.student_may_join_class(tenant, class, &identity.user) {
                true
            } else {
                return Err(Denied::NotOnRoster {
                    room: format!("class:{tenant}:{class}"),
                });
            }
        }
        (Role::Student | Role::Parent | Role::Guest, _) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied::Class {
            role: identity.role.as_str(),
            action: match access {
                ClassAccess::View => "see",
                ClassAccess::Manage => "manage",
            },
            class: class.to_owned(),
        })
    }
}

/// Whether `identity` may join `room`, given the tenant's rosters and parent links.
pub fn check_join(identity: &Identity, room: &RoomId, rosters: &Rosters) -> Result<(), Denied> {
    check_tenant(identity, room)?;
    let own_user_room = room.kind() == RoomKind::User && room.local_id() == identity.user;
    // Other Pusher channels: public ones are open to the tenant; `private-`/`presence-` ones are
    // for educators and admins (Pusher clients get theirs signed by /pusher/auth).
    let public_channel = room.kind() == RoomKind::Channel
        && !room.local_id().starts_with("private-")
        && !room.local_id().starts_with("presence-");
    let allowed = match (identity.role, room.kind()) {
        (_, RoomKind::User) if own_user_room => true,
        (_, RoomKind::Channel) if public_channel => true,
        (Role::Admin | Role::Educator, RoomKind::Channel) => true,
        (Role::Student | Role::Parent | Role::Guest, RoomKind::Channel) => false,
        (Role::Guest, RoomKind::Class | RoomKind::Game | RoomKind::User) => false,
        (Role::Admin, RoomKind::User) => true,
        (Role::Admin | Role::Educator | Role::Student, RoomKind::Class) => {
            check_class(
                identity,
                room.tenant(),
                room.local_id(),
                ClassAccess::View,
                rosters,
            )?;
            true
        }
        (Role::Admin | Role::Educator, RoomKind::Game) => {
            check_game_staff(identity, room, rosters)?;
            true
        }
        (Role::Educator, RoomKind::User) => false,
        (Role::Student, RoomKind::Game) => {
            rosters.student_may_join_game(room.tenant(), room.local_id(), &identity.user)
        }
        (Role::Student, RoomKind::User) => false,
        (Role::Parent, RoomKind::User) => {
            identity
                .children
                .iter()
                .any(|child| child == room.local_id())
                || rosters.is_child(room.tenant(), &identity.user, room.local_id())
        }
        (Role::Parent, RoomKind::Class | RoomKind::Game) => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied::Join {
            role: identity.role.as_str(),
            room: room.to_string(),
        })
    }
}

/// A game room linked to a class is the class's: staff who may manage the class. One linked to
/// no class is open to the tenant's staff.
fn check_game_staff(identity: &Identity, room: &RoomId, rosters: &Rosters) -> Result<(), Denied> {
    match rosters.class_of_game(room.tenant(), room.local_id()) {
        Some(class) => check_class(
            identity,
            room.tenant(),
            &class,
            ClassAccess::Manage,
            rosters,
        ),
        None => Ok(()),
    }
}

/// Whether `identity` may publish an event of `kind` to `room`. Staff publish without joining,
/// into the class and game rooms they may manage; students must also have joined the room (the
/// hub checks that, and re-checks the join rule).
pub fn check_publish(
    identity: &Identity,
    room: &RoomId,
    kind: &str,
    rosters: &Rosters,
) -> Result<(), Denied> {
    check_tenant(identity, room)?;
    let allowed = match identity.role {
        Role::Educator | Role::Admin => {
            match room.kind() {
                RoomKind::Class => check_class(
                    identity,
                    room.tenant(),
                    room.local_id(),
                    ClassAccess::Manage,
                    rosters,
                )?,
                RoomKind::Game => check_game_staff(identity, room, rosters)?,
                RoomKind::User | RoomKind::Channel => {}
            }
            true
        }
        Role::Student => kind == "chat" && room.kind() != RoomKind::User,
        Role::Parent | Role::Guest => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Denied::Publish {
            role: identity.role.as_str(),
            kind: kind.to_owned(),
            room: room.to_string(),
        })
    }
}

/// Whether `identity` may publish an ephemeral event (never stored; see `Session::publish_ephemeral`)
/// of `kind` to `room`: whoever may publish it stored, and also a student into a class or game
/// room (positions, cursors, typing; the hub checks the student joined it), any kind but a
/// command. Chat is the chat rule's, whatever the flag.
pub fn check_publish_ephemeral(
    identity: &Identity,
    room: &RoomId,
    kind: &str,
    rosters: &Rosters,
) -> Result<(), Denied> {
    if identity.role == Role::Student
        && matches!(room.kind(), RoomKind::Class | RoomKind::Game)
        && protocol::CommandKind::parse(kind).is_none()
    {
        return check_tenant(identity, room);
    }
    check_publish(identity, room, kind, rosters)
}

/// Whether the publisher must be a member of the room first.
pub fn must_join_to_publish(identity: &Identity) -> bool {
    match identity.role {
        Role::Student | Role::Parent | Role::Guest => true,
        Role::Educator | Role::Admin => false,
    }
}

fn check_tenant(identity: &Identity, room: &RoomId) -> Result<(), Denied> {
    if room.tenant() == identity.tenant {
        Ok(())
    } else {
        Err(Denied::OtherTenant {
            room: room.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role, user: &str, children: &[&str]) -> Identity {
        Identity {
            user: user.into(),
            tenant: "acme".into(),
            role,
            name: None,
            children: children.iter().map(|child| child.to_string()).collect(),
            expires_at: None,
        }
    }

    fn room(text: &str) -> RoomId {
        RoomId::parse(text, 128).expect("room id")
    }

    #[test]
    fn students_publish_ephemeral_events_but_no_commands_and_parents_nothing() {
        let student = who(Role::Student, "s1", &[]);
        let parent = who(Role::Parent, "p1", &["s1"]);
        let check = |identity: &Identity, text: &str, kind: &str| {
            check_publish_ephemeral(identity, &room(text), kind, &Rosters::default()).is_ok()
        };
        assert!(check(&student, "class:acme:c1", "cursor"));
        assert!(check(&student, "game:acme:j1", "position"));
        assert!(!check(&student, "class:acme:c1", "freeze"), "a command");
        assert!(!check(&student, "user:acme:s2", "typing"), "a user room");
        assert!(
            !check(&student, "class:other:c1", "cursor"),
            "another tenant"
        );
        assert!(!check(&parent, "user:acme:s1", "typing"));
        assert!(
            check_publish(
                &student,
                &room("class:acme:c1"),
                "cursor",
                &Rosters::default()
            )
            .is_err(),
            "stored, a student still publishes only chat"
        );
    }

    #[test]
    fn join_matrix() {
        let student = who(Role::Student, "s1", &[]);
        let educator = who(Role::Educator, "t1", &[]);
        let parent = who(Role::Parent, "p1", &["s1"]);
        let admin = who(Role::Admin, "a1", &[]);
        let check = |identity: &Identity, text: &str, ok: bool| {
            assert_eq!(
                check_join(identity, &room(text), &Rosters::default()).is_ok(),
                ok,
                "{:?} joining {text}",
                identity.role
            );
        };
        check(&student, "class:acme:c1", true);
        check(&student, "user:acme:s1", true);
        check(&student, "user:acme:s2", false);
        check(&student, "game:acme:j1", false);
        check(&student, "class:other:c1", false);
        check(&educator, "class:acme:c1", true);
        check(&educator, "game:acme:j1", true);
        check(&educator, "user:acme:s1", false);
        check(&educator, "user:acme:t1", true);
        check(&educator, "game:other:j1", false);
        check(&parent, "user:acme:s1", true);
        check(&parent, "user:acme:s2", false);
        check(&parent, "class:acme:c1", false);
        check(&admin, "user:acme:s1", true);
        check(&admin, "class:other:c1", false);
        check(&student, "channel:acme:news", true);
        check(&student, "channel:acme:private-staff", false);
        check(&educator, "channel:acme:presence-staff", true);
        check(&parent, "channel:other:news", false);
    }

    #[test]
    fn rosters_and_parent_links_narrow_and_widen_joins() {
        let rosters = Rosters::default();
        rosters.add_class("acme", "c1", Some("t1"));
        rosters.set_member("acme", "c1", "s1", true);
        rosters.set_child("acme", "p2", "s1", true);
        rosters.set_game_class("acme", "job-1", Some("c1"));
        let student = who(Role::Student, "s1", &[]);
        let other_student = who(Role::Student, "s2", &[]);
        let linked_parent = who(Role::Parent, "p2", &[]);
        assert_eq!(
            check_join(&student, &room("class:acme:c1"), &rosters),
            Ok(())
        );
        assert_eq!(
            check_join(&student, &room("game:acme:job-1"), &rosters),
            Ok(())
        );
        assert!(matches!(
            check_join(&other_student, &room("class:acme:c1"), &rosters),
            Err(Denied::NotOnRoster { .. })
        ));
        assert!(check_join(&other_student, &room("game:acme:job-1"), &rosters).is_err());
        assert_eq!(
            check_join(&linked_parent, &room("user:acme:s1"), &rosters),
            Ok(())
        );
        assert!(check_join(&linked_parent, &room("user:acme:s2"), &rosters).is_err());
        let teacher = who(Role::Educator, "t1", &[]);
        let other_teacher = who(Role::Educator, "t2", &[]);
        let admin = who(Role::Admin, "a1", &[]);
        for text in ["class:acme:c1", "game:acme:job-1"] {
            assert_eq!(check_join(&teacher, &room(text), &rosters), Ok(()));
            assert_eq!(check_join(&admin, &room(text), &rosters), Ok(()));
            assert!(matches!(
                check_join(&other_teacher, &room(text), &rosters),
                Err(Denied::NotTeacher { .. })
            ));
            assert!(check_publish(&other_teacher, &room(text), "freeze", &rosters).is_err());
            assert_eq!(
                check_publish(&teacher, &room(text), "freeze", &rosters),
                Ok(())
            );
        }
        assert_eq!(
            check_join(&other_teacher, &room("game:acme:unlinked"), &rosters),
            Ok(()),
            "a game linked to no class is open to the tenant's staff"
        );
        assert_eq!(
            check_class(&student, "acme", "c1", ClassAccess::Manage, &rosters),
            Err(Denied::Class {
                role: "student",
                action: "manage",
                class: "c1".into()
            })
        );
    }

    #[test]
    fn publish_matrix() {
        let student = who(Role::Student, "s1", &[]);
        let educator = who(Role::Educator, "t1", &[]);
        let parent = who(Role::Parent, "p1", &["s1"]);
        let check = |identity: &Identity, text: &str, kind: &str, ok: bool| {
            assert_eq!(
                check_publish(identity, &room(text), kind, &Rosters::default()).is_ok(),
                ok,
                "{:?} {kind} to {text}",
                identity.role
            );
        };
        check(&student, "class:acme:c1", "chat", true);
        check(&student, "class:acme:c1", "reward", false);
        check(&student, "class:acme:c1", "progress", false);
        check(&student, "user:acme:s1", "chat", false);
        check(&educator, "class:acme:c1", "reward", true);
        check(&educator, "user:acme:s1", "message", true);
        check(&educator, "class:other:c1", "chat", false);
        check(&parent, "user:acme:s1", "chat", false);
    }
}
