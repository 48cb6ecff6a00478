//! Helpers shared by integration tests. The store acceptance suites are the library's own
//! (`actix_typed_session::testing`, feature `testing`).

pub(crate) mod redis_server;
pub(crate) mod sentinel;
pub(crate) mod tls;
