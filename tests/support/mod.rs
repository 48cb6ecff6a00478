//! Helpers shared by integration tests. The store acceptance suites are the library's own
//! (`actix_typed_session::testing`, feature `testing`).

#[allow(dead_code)]
pub(crate) mod example;
pub(crate) mod postgres;
pub(crate) mod redis_server;
pub(crate) mod sentinel;
pub(crate) mod tls;
