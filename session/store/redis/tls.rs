//! TLS of a [`RedisStore`](super::RedisStore) with rustls: the certificates a builder was
//! given are checked at start-up, and a failed handshake is told apart from an outage.

use std::{error::Error as _, sync::Arc};

use rustls::{
    crypto::{ring, CryptoProvider},
    ClientConfig, RootCertStore,
};

use super::options::TlsFiles;
use crate::store::{pem, StoreError};

/// The server named in configuration errors.
const SERVER: &str = "Redis";

/// rustls needs a process-wide crypto provider for the `redis` crate's TLS connections: `ring`'s,
/// unless the application installed one.
pub(super) fn install_provider() {
    if CryptoProvider::get_default().is_none() {
        // Another thread may win the race: its provider is as good.
        let _ = ring::default_provider().install_default();
    }
}

/// Checks the CA and the client certificate and key: each must be PEM, the CA usable as a trust
/// anchor, and the key the client certificate's.
pub(super) fn check(tls: &TlsFiles) -> Result<(), StoreError> {
    install_provider();
    let roots = match &tls.ca {
        Some(ca) => pem::roots(SERVER, ca)?,
        None => RootCertStore::empty(),
    };
    if let Some((cert, key)) = &tls.client {
        let (chain, key) = pem::client_identity(SERVER, cert, key)?;
        ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| pem::invalid(SERVER, e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| pem::mismatched_identity(SERVER, e))?;
    }
    Ok(())
}

/// The TLS failure behind a Redis error, if a handshake failed (e.g. the server's certificate
/// is not signed by a trusted CA, or the server wants a client certificate).
pub(super) fn failure(e: &::redis::RedisError) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(error) = source {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // `io::Error::source` skips the error it wraps.
        if let Some(inner) = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return Some(tls.to_string());
            }
        }
        source = error.source();
    }
    // A connection manager hands out copies of a connection error, which keep only its text.
    let text = e.to_string();
    TLS_FAILURES
        .iter()
        .any(|failure| text.contains(failure))
        .then_some(text)
}

/// How rustls words its handshake failures.
const TLS_FAILURES: &[&str] = &[
    "invalid peer certificate",
    "peer sent no certificates",
    "received fatal alert",
    "peer is incompatible",
    "peer misbehaved",
    "no certificates presented",
];
