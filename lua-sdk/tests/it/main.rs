//! Integration tests of the Luau SDK: `src/ClassHub.luau` runs in the Luau VM (the `lua_sdk`
//! harness, with Roblox stand-ins and a virtual clock) against a real classhub started on
//! loopback in this process. One test binary; one module per behaviour.

mod budget;
mod commands;
mod config;
mod delivery;
mod golden;
mod lessons;
mod link;
mod roblox_json;
mod session;
mod stop;
mod support;
