//! Shared support for Rapport's end-to-end tests.
//!
//! Meant to live at `crates/rapport/tests/support/` (used as `mod support;`); kept here until the
//! `rapport` crate exists, because a `crates/rapport/` directory without a manifest breaks the
//! `crates/*` workspace glob for everyone.

pub mod bodea_oracle;
