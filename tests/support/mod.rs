//! Helpers shared by integration tests.

pub(crate) mod acceptance;
pub(crate) mod redis_server;
