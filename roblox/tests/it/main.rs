//! Integration tests of the `roblox` crate: properties of the decoders of what game servers send
//! (`decoders`), on generators shared with the protocol crate's (`strategies`, included by path).

mod decoders;
#[path = "../../../protocol/tests/it/strategies.rs"]
mod strategies;
