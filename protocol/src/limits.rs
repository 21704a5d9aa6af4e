//! The limits a client frame must respect. The server configures them (every one is a setting)
//! and announces them to each client in its `welcome` frame.

/// Frame-level limits checked by [`crate::Codec::decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted frame, in bytes (default 64 KiB).
    pub max_frame_bytes: usize,
    /// Longest accepted room id, in bytes (default 128).
    pub max_room_id_len: usize,
    /// Deepest accepted nesting of a payload (`data`, `state`, `presence`); a scalar is depth 0,
    /// `{}` depth 1 (default 16).
    pub max_payload_depth: usize,
    /// Longest accepted client event id (`publish.id`), in bytes (default 128).
    pub max_event_id_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_frame_bytes: 64 * 1024,
            max_room_id_len: 128,
            max_payload_depth: 16,
            max_event_id_len: 128,
        }
    }
}
