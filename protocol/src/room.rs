//! Typed, tenant-scoped room ids: `class:{tenant}:{id}`, `game:{tenant}:{job_id}`,
//! `user:{tenant}:{user_id}`. Parsing is the only way to make one, so a [`RoomId`] in hand is
//! always well formed.

use std::fmt;
use std::sync::Arc;

/// What a room is for; the first segment of its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoomKind {
    /// A classroom: the teacher's dashboard and the students of one class.
    Class,
    /// One live Roblox game server, keyed by its JobId.
    Game,
    /// One person's private notifications.
    User,
    /// Any other Pusher channel of a tenant, by its full name (`channel:{tenant}:{name}`).
    Channel,
}

impl RoomKind {
    /// The id prefix for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Class => "class",
            RoomKind::Game => "game",
            RoomKind::User => "user",
            RoomKind::Channel => "channel",
        }
    }
}

/// A parsed room id. Cheap to clone (the text is shared).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RoomId {
    text: Arc<str>,
    kind: RoomKind,
    /// Byte offsets of the two `:` separators in `text`.
    tenant_end: usize,
}

/// Why a string is not a room id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomIdError {
    /// Longer than the configured limit.
    #[error("room id is {len} bytes; the limit is {max}")]
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not three `:`-separated parts.
    #[error("room id must have the form kind:tenant:id")]
    Shape,
    /// The first part is not `class`, `game`, `user` or `channel`.
    #[error("room kind must be class, game, user or channel")]
    Kind,
    /// A part is empty or holds a character outside letters, digits, '-', '_' and '.'.
    #[error("tenant and id must be non-empty and use only letters, digits, '-', '_' or '.'")]
    Characters,
}

impl RoomId {
    /// Parses `text`, refusing ids longer than `max_len` bytes.
    pub fn parse(text: &str, max_len: usize) -> Result<RoomId, RoomIdError> {
        if text.len() > max_len {
            return Err(RoomIdError::TooLong {
                len: text.len(),
                max: max_len,
            });
        }
        let mut parts = text.splitn(3, ':');
        let (Some(kind), Some(tenant), Some(id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(RoomIdError::Shape);
        };
        let kind = match kind {
            "class" => RoomKind::Class,
            "game" => RoomKind::Game,
            "user" => RoomKind::User,
            "channel" => RoomKind::Channel,
            _ => return Err(RoomIdError::Kind),
        };
        if !is_segment(tenant) || !is_local_id(kind, id) {
            return Err(RoomIdError::Characters);
        }
        let tenant_end = kind.as_str().len() + 1 + tenant.len();
        Ok(RoomId {
            text: Arc::from(text),
            kind,
            tenant_end,
        })
    }

    /// Builds the id of `kind` for `tenant` and `id`, checking the parts as [`RoomId::parse`] does.
    pub fn new(
        kind: RoomKind,
        tenant: &str,
        id: &str,
        max_len: usize,
    ) -> Result<RoomId, RoomIdError> {
        RoomId::parse(&format!("{}:{tenant}:{id}", kind.as_str()), max_len)
    }

    /// The room's kind.
    pub fn kind(&self) -> RoomKind {
        self.kind
    }

    /// The tenant the room belongs to.
    pub fn tenant(&self) -> &str {
        &self.text[self.kind.as_str().len() + 1..self.tenant_end]
    }

    /// The id inside the tenant (class id, game JobId or user id).
    pub fn local_id(&self) -> &str {
        &self.text[self.tenant_end + 1..]
    }

    /// The full id as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Channel rooms carry a Pusher channel name, which may also hold `=@,;`.
fn is_local_id(kind: RoomKind, part: &str) -> bool {
    match kind {
        RoomKind::Channel => {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|byte| byte.is_ascii_alphanumeric() || b"-_.=@,;".contains(&byte))
        }
        RoomKind::Class | RoomKind::Game | RoomKind::User => is_segment(part),
    }
}

fn is_segment(part: &str) -> bool {
    !part.is_empty()
        && part
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'))
}

impl fmt::Display for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for RoomId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomId({})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<(RoomKind, &str, &str), RoomIdError>) {
        let parsed = RoomId::parse(input, 40);
        let actual = parsed
            .as_ref()
            .map(|room| (room.kind(), room.tenant(), room.local_id()));
        assert_eq!(actual.map_err(Clone::clone), expected, "{input}");
    }

    #[test]
    fn parses_the_three_kinds_and_refuses_the_rest() {
        check("class:acme:7b", Ok((RoomKind::Class, "acme", "7b")));
        check(
            "game:acme:0c8f3e12-aa9e-4b3c",
            Ok((RoomKind::Game, "acme", "0c8f3e12-aa9e-4b3c")),
        );
        check("user:t_1:u.2", Ok((RoomKind::User, "t_1", "u.2")));
        check("class:acme", Err(RoomIdError::Shape));
        check("lobby:acme:1", Err(RoomIdError::Kind));
        check("class::1", Err(RoomIdError::Characters));
        check("class:acme:", Err(RoomIdError::Characters));
        check("class:acme:a:b", Err(RoomIdError::Characters));
        check("class:acme:a b", Err(RoomIdError::Characters));
        check("class:acme:é", Err(RoomIdError::Characters));
        check(
            &format!("class:acme:{}", "x".repeat(40)),
            Err(RoomIdError::TooLong { len: 51, max: 40 }),
        );
    }
}
