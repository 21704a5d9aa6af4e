//! WebSocket close codes the server sends, grouped by what the client should do next (the same
//! ranges Pusher uses): 4000–4099 fix something before reconnecting, 4100–4199 reconnect after a
//! back-off and recover with `since`, 4200–4299 reconnect at once (possibly to another node).
//! Over QUIC the same numbers are the connection's application error code (0 for a normal
//! closure), with the same reason.

/// Why the server closed a native-protocol socket. The numeric values are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// The token was missing, malformed, forged or expired. Get a new token first.
    AuthFailed,
    /// No `auth` frame arrived within the authentication deadline.
    AuthTimeout,
    /// A frame exceeded the hard size cap of the WebSocket layer.
    FrameTooLarge,
    /// The connection's outbound queue filled up because the client did not read fast enough.
    /// Reconnect and join with `since` to recover the gap from history.
    SlowConsumer,
    /// No frame (not even a pong) arrived within the heartbeat timeout.
    HeartbeatTimeout,
    /// The server is shutting down or restarting. Reconnect now.
    Reconnect,
    /// The tenant has as many connections as it may. Reconnect after a back-off.
    OverCapacity,
    /// The client kept sending frames the server refused (over the rate limit, undecodable,
    /// over the size limit) after being told to slow down. Reconnect after a back-off, and
    /// honour `retry_after_ms`.
    RateLimited,
}

impl CloseCode {
    /// Every close code, for documentation and tests.
    pub const ALL: [CloseCode; 8] = [
        CloseCode::AuthFailed,
        CloseCode::AuthTimeout,
        CloseCode::FrameTooLarge,
        CloseCode::SlowConsumer,
        CloseCode::HeartbeatTimeout,
        CloseCode::Reconnect,
        CloseCode::OverCapacity,
        CloseCode::RateLimited,
    ];

    /// The numeric WebSocket close code.
    pub fn code(self) -> u16 {
        match self {
            CloseCode::AuthFailed => 4001,
            CloseCode::AuthTimeout => 4002,
            CloseCode::FrameTooLarge => 4009,
            CloseCode::SlowConsumer => 4100,
            CloseCode::HeartbeatTimeout => 4101,
            CloseCode::Reconnect => 4200,
            CloseCode::OverCapacity => 4102,
            CloseCode::RateLimited => 4103,
        }
    }

    /// The close reason sent with the code (kept under the 123-byte limit of a close frame).
    pub fn reason(self) -> &'static str {
        match self {
            CloseCode::AuthFailed => "authentication failed: get a new token and reconnect",
            CloseCode::AuthTimeout => "no auth frame in time: send auth first",
            CloseCode::FrameTooLarge => "frame over the hard size cap",
            CloseCode::SlowConsumer => "slow consumer: reconnect and join with since to recover",
            CloseCode::HeartbeatTimeout => "heartbeat timeout: no frames from the client",
            CloseCode::Reconnect => "server shutting down: reconnect",
            CloseCode::OverCapacity => {
                "your organization has all the connections it may: reconnect later"
            }
            CloseCode::RateLimited => {
                "too many refused frames: reconnect after a back-off and honour retry_after_ms"
            }
        }
    }

    /// Looks a numeric close code up.
    pub fn from_code(code: u16) -> Option<CloseCode> {
        CloseCode::ALL
            .into_iter()
            .find(|close| close.code() == code)
    }

    /// Whether the client should reconnect on its own after this close.
    pub fn should_reconnect(self) -> bool {
        match self {
            CloseCode::AuthFailed | CloseCode::FrameTooLarge => false,
            CloseCode::AuthTimeout
            | CloseCode::SlowConsumer
            | CloseCode::HeartbeatTimeout
            | CloseCode::Reconnect
            | CloseCode::OverCapacity
            | CloseCode::RateLimited => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_in_range_and_reasons_fit_a_close_frame() {
        let mut seen = std::collections::HashSet::new();
        for close in CloseCode::ALL {
            assert!(
                seen.insert(close.code()),
                "duplicate close code {}",
                close.code()
            );
            assert!((4000..5000).contains(&close.code()));
            assert!(close.reason().len() <= 123, "{close:?} reason too long");
            assert_eq!(CloseCode::from_code(close.code()), Some(close));
        }
    }
}
