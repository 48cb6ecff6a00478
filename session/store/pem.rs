//! The PEM files a store's TLS is given (a CA, a client certificate and its key), read the same
//! way for `RedisStore` and `PgStore`: an error names the file and what is wrong with it.

use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    RootCertStore,
};

use crate::store::{StoreError, StoreErrorKind};

/// An invalid TLS configuration of the store for `server` ("Redis", "PostgreSQL").
pub(crate) fn invalid(server: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::new(
        StoreErrorKind::Other,
        format!("invalid {server} TLS configuration: {message}"),
    )
}

/// The PEM certificates of `pem`, or an error naming `what` when it holds none or is malformed.
pub(crate) fn certificates(
    server: &str,
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(server, format!("the {what} is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(invalid(
            server,
            format!("the {what} holds no certificate (a PEM block `-----BEGIN CERTIFICATE-----`)"),
        ));
    }
    Ok(certs)
}

/// The trust anchors of the CA certificate file `ca`.
pub(crate) fn roots(server: &str, ca: &[u8]) -> Result<RootCertStore, StoreError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(server, ca, "CA certificate")? {
        roots
            .add(cert)
            .map_err(|e| invalid(server, format!("the CA certificate cannot be trusted: {e}")))?;
    }
    Ok(roots)
}

/// The client certificate chain and key of the files `cert` and `key`.
pub(crate) fn client_identity(
    server: &str,
    cert: &[u8],
    key: &[u8],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), StoreError> {
    let chain = certificates(server, cert, "client certificate")?;
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| {
        invalid(
            server,
            format!("the client key holds no private key in PEM: {e}"),
        )
    })?;
    Ok((chain, key))
}

/// The error when a client certificate and key cannot be used together.
pub(crate) fn mismatched_identity(server: &str, e: rustls::Error) -> StoreError {
    invalid(
        server,
        format!("the client certificate and key cannot be used together: {e}"),
    )
}
