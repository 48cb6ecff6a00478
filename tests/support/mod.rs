//! Helpers shared by integration tests.

pub(crate) mod acceptance;
pub(crate) mod redis_server;
pub(crate) mod sentinel;
pub(crate) mod tls;
