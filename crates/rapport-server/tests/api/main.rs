//! The REST API over real HTTP (ureq, a client of its own) against a server on an ephemeral loopback port with
//! a temporary data directory. One module per resource; `support` starts servers and holds one token per role.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audiences;
mod batches;
mod console;
mod destinations;
mod flows;
mod platform;
mod profiles;
mod schemas;
mod support;
