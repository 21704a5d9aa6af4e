//! Test support: a classhub on 127.0.0.1:0 with its own data dir, and the harness wired to it.

#![allow(dead_code)]

pub const SECRET: &str = "lua-sdk-test-secret-0123456789abcdef";
