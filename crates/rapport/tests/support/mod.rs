//! Shared support for Rapport's end-to-end tests.

pub mod bodea_oracle;
