//! classhub's persistence: the only crate that talks SQL. It owns the [`Store`] (PostgreSQL, the
//! production system of record, or embedded SQLite, the zero-install default), the migrations
//! for both, and the [`EventSink`] that writes durable events in group commits.
//!
//! It knows nothing of rooms, sockets or HTTP: it is handed [`DurableEvent`]s and answers, per
//! event, when the transaction holding it has committed. The server decides what is durable and
//! when to acknowledge it to clients.
//!
//! **Invariant:** an event whose [`Ack`] resolved to `Ok` is in the database; an event that was
//! never acknowledged may or may not be, and retrying it with the same id stores it once.

mod error;
mod event;
mod roblox;
mod sink;
mod store;

pub use error::{SinkError, StoreError};
pub use event::{DurableEvent, ProgressUpdate};
pub use roblox::{ClassRef, GameKeyInfo, NewGameKey, NewGameSession, RosterStudent};
pub use sink::{Ack, EventSink, SinkPermit, SinkRefused, SinkSettings, SinkTask};
pub use store::{Backend, Progress, Store, WriteOutcome};
