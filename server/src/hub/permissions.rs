//! Who may join and publish where. Tenancy first: nobody crosses tenants. Then role:
//! students join class rooms and their own user room and publish only `chat` into rooms they
//! joined; educators and admins join any class or game room of their tenant and publish
//! anything (commands included) without joining; parents join their children's user rooms and
//! publish nothing. Public Pusher channels (`channel:` rooms without a `private-`/`presence-`
//! name) are open to the whole tenant. Rosters narrow the student rule (see `rosters.rs`): once a
//! tenant has classes, a student joins only the class rooms whose roster lists them and the game
//! rooms linked to those classes; a parent joins the user rooms of the children their token names
//! or the database links to them.

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
        (Role::Admin, RoomKind::Class | RoomKind::Game | RoomKind::User) => true,
        (Role::Educator, RoomKind::Class | RoomKind::Game) => true,
        (Role::Educator, RoomKind::User) => false,
        (Role::Student, RoomKind::Class) => {
            if rosters.student_may_join_class(room.tenant(), room.local_id(), &identity.user) {
                true
            } else {
                return Err(Denied::NotOnRoster {
                    room: room.to_string(),
                });
            }
        }
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

/// Whether `identity` may publish an event of `kind` to `room`. Students must also have joined
/// the room; the hub checks that.
pub fn check_publish(identity: &Identity, room: &RoomId, kind: &str) -> Result<(), Denied> {
    check_tenant(identity, room)?;
    let allowed = match identity.role {
        Role::Educator | Role::Admin => true,
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
        }
    }

    fn room(text: &str) -> RoomId {
        RoomId::parse(text, 128).expect("room id")
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
        rosters.add_class("acme", "c1");
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
    }

    #[test]
    fn publish_matrix() {
        let student = who(Role::Student, "s1", &[]);
        let educator = who(Role::Educator, "t1", &[]);
        let parent = who(Role::Parent, "p1", &["s1"]);
        let check = |identity: &Identity, text: &str, kind: &str, ok: bool| {
            assert_eq!(
                check_publish(identity, &room(text), kind).is_ok(),
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
