//! Stable numeric error codes carried by `error` frames, each with one sentence that says what was
//! wrong and what to do. The numbers never change meaning; new codes get new numbers.

/// An error the server reports in an `error` frame. The connection stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The frame is not valid JSON (or MessagePack) for protocol v1.
    MalformedFrame,
    /// The `type` field names no client message of protocol v1.
    UnknownType,
    /// A known message type with a missing or ill-typed field.
    InvalidMessage,
    /// The frame is larger than the frame-size limit.
    FrameTooLarge,
    /// A payload (`data`, `state`, `presence`) nests deeper than allowed.
    PayloadTooDeep,
    /// The room id is not `class|game|user:{tenant}:{id}` or is too long.
    BadRoomId,
    /// The frame kind does not match the negotiated codec (binary on JSON or text on MessagePack).
    WrongFrameKind,
    /// The connection has not authenticated yet.
    Unauthenticated,
    /// The token is malformed, forged, or not signed by a key the server trusts.
    InvalidToken,
    /// The token has expired.
    TokenExpired,
    /// The caller's role or tenant does not allow this.
    Forbidden,
    /// The connection is already authenticated.
    AlreadyAuthenticated,
    /// The connection must join the room before doing this.
    NotJoined,
    /// Too many publishes in too short a time.
    RateLimited,
    /// The connection has joined as many rooms as it may.
    TooManyRooms,
    /// The server is busy (for example its durable-event queue is full); retry later.
    Unavailable,
    /// Something failed inside the server; the details are in its log.
    Internal,
}

impl ErrorCode {
    /// Every error code, for documentation and tests.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::MalformedFrame,
        ErrorCode::UnknownType,
        ErrorCode::InvalidMessage,
        ErrorCode::FrameTooLarge,
        ErrorCode::PayloadTooDeep,
        ErrorCode::BadRoomId,
        ErrorCode::WrongFrameKind,
        ErrorCode::Unauthenticated,
        ErrorCode::InvalidToken,
        ErrorCode::TokenExpired,
        ErrorCode::Forbidden,
        ErrorCode::AlreadyAuthenticated,
        ErrorCode::NotJoined,
        ErrorCode::RateLimited,
        ErrorCode::TooManyRooms,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The stable number sent on the wire.
    pub fn code(self) -> u16 {
        match self {
            ErrorCode::MalformedFrame => 1001,
            ErrorCode::UnknownType => 1002,
            ErrorCode::InvalidMessage => 1003,
            ErrorCode::FrameTooLarge => 1004,
            ErrorCode::PayloadTooDeep => 1005,
            ErrorCode::BadRoomId => 1006,
            ErrorCode::WrongFrameKind => 1007,
            ErrorCode::Unauthenticated => 2001,
            ErrorCode::InvalidToken => 2002,
            ErrorCode::TokenExpired => 2003,
            ErrorCode::Forbidden => 2004,
            ErrorCode::AlreadyAuthenticated => 2005,
            ErrorCode::NotJoined => 3001,
            ErrorCode::RateLimited => 3002,
            ErrorCode::TooManyRooms => 3003,
            ErrorCode::Unavailable => 5001,
            ErrorCode::Internal => 5002,
        }
    }

    /// The sentence sent with the code when the server has nothing more specific to say.
    pub fn sentence(self) -> &'static str {
        match self {
            ErrorCode::MalformedFrame => {
                "the frame is not a valid protocol v1 message; send one object with a \"type\" field"
            }
            ErrorCode::UnknownType => {
                "unknown message type; use auth, join, leave, publish, presence or ping"
            }
            ErrorCode::InvalidMessage => {
                "a field is missing or has the wrong type; see the message"
            }
            ErrorCode::FrameTooLarge => "the frame is larger than the server's frame-size limit",
            ErrorCode::PayloadTooDeep => "the payload nests deeper than the server allows",
            ErrorCode::BadRoomId => {
                "the room id must be class|game|user:{tenant}:{id} using letters, digits, '-', '_' or '.'"
            }
            ErrorCode::WrongFrameKind => {
                "send text frames on classhub.v1.json and binary frames on classhub.v1.msgpack"
            }
            ErrorCode::Unauthenticated => "authenticate first: send an auth frame with your token",
            ErrorCode::InvalidToken => "the token is not valid; get a new token from the platform",
            ErrorCode::TokenExpired => "the token has expired; get a new token from the platform",
            ErrorCode::Forbidden => "your role or tenant does not allow this",
            ErrorCode::AlreadyAuthenticated => "this connection is already authenticated",
            ErrorCode::NotJoined => "join the room first",
            ErrorCode::RateLimited => "too many messages; slow down and retry after retry_after_ms",
            ErrorCode::TooManyRooms => {
                "this connection has joined as many rooms as it may; leave one first"
            }
            ErrorCode::Unavailable => "the server is busy; retry after retry_after_ms",
            ErrorCode::Internal => "the server failed to handle this; it has been logged",
        }
    }

    /// Whether sending the same message again later may succeed.
    pub fn is_retryable(self) -> bool {
        match self {
            ErrorCode::RateLimited | ErrorCode::Unavailable | ErrorCode::Internal => true,
            ErrorCode::MalformedFrame
            | ErrorCode::UnknownType
            | ErrorCode::InvalidMessage
            | ErrorCode::FrameTooLarge
            | ErrorCode::PayloadTooDeep
            | ErrorCode::BadRoomId
            | ErrorCode::WrongFrameKind
            | ErrorCode::Unauthenticated
            | ErrorCode::InvalidToken
            | ErrorCode::TokenExpired
            | ErrorCode::Forbidden
            | ErrorCode::AlreadyAuthenticated
            | ErrorCode::NotJoined
            | ErrorCode::TooManyRooms => false,
        }
    }

    /// Looks a numeric code up.
    pub fn from_code(code: u16) -> Option<ErrorCode> {
        ErrorCode::ALL
            .into_iter()
            .find(|error| error.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for error in ErrorCode::ALL {
            assert!(
                seen.insert(error.code()),
                "duplicate error code {}",
                error.code()
            );
            assert_eq!(ErrorCode::from_code(error.code()), Some(error));
            assert!(!error.sentence().is_empty());
        }
    }
}
