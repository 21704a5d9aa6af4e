//! Integration tests of the `classhub` server over real sockets on 127.0.0.1:0 with a
//! tokio-tungstenite client. One binary, one module per concern; `support` starts servers and
//! speaks the protocol.

mod ai;
mod ai_threads;
mod audit;
mod auth;
mod authority;
mod billing;
mod catalog;
mod chat;
mod classes;
mod codecs;
mod consent;
mod content;
mod cors;
mod dashboard;
mod durable;
mod errors;
mod jwks;
mod learning;
mod limits;
mod matrix;
mod media;
mod notifications;
mod openapi;
mod presence;
mod privacy;
mod proxies;
mod pusher;
mod recovery;
mod rest;
mod roblox;
mod roles;
mod shutdown;
mod slow_consumer;
mod support;
mod tidy;
