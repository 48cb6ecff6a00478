//! TLS of a [`PgStore`](super::PgStore): what the builder was given (a CA, a client certificate,
//! whether to verify the server), checked at build time, and the connector that the store's
//! connections and its end listener's connection use.
//!
//! With the feature `postgres-rustls`, the connector is rustls (`ring` provider) through
//! `tokio-postgres-rustls`; tokio-postgres then asks the server for TLS under `sslmode=prefer`
//! (the default) and `require`, as libpq does. Without it, the connector is `NoTls`, and a
//! connection string that requires TLS is refused when the builder is made.

use tokio_postgres::{config::SslMode, Config};

use crate::store::{StoreError, StoreErrorKind};

/// The connector of every connection of the store.
#[cfg(feature = "postgres-rustls")]
pub(super) type Connector = tokio_postgres_rustls::MakeRustlsConnect;

/// The connector of every connection of the store: plain TCP or Unix sockets.
#[cfg(not(feature = "postgres-rustls"))]
pub(super) type Connector = tokio_postgres::NoTls;

fn bad(message: impl std::fmt::Display) -> StoreError {
    StoreError::new(
        StoreErrorKind::Other,
        format!("invalid {SERVER} TLS configuration: {message}"),
    )
}

/// The server named in configuration errors.
const SERVER: &str = "PostgreSQL";

/// Refuses, in a build without TLS, a connection string that requires it (rather than a
/// connection that fails later, or one that is not encrypted).
#[cfg(not(feature = "postgres-rustls"))]
pub(super) fn check_url(config: &Config) -> Result<(), StoreError> {
    if config.get_ssl_mode() == SslMode::Require {
        return Err(bad(
            "the connection string says `sslmode=require`, but this build has no TLS: enable \
             the `postgres-rustls` feature of actix-typed-session",
        ));
    }
    Ok(())
}

/// With TLS support, every `sslmode` that tokio-postgres parses can be served.
#[cfg(feature = "postgres-rustls")]
pub(super) fn check_url(_: &Config) -> Result<(), StoreError> {
    Ok(())
}

/// A hint for a connection string that tokio-postgres cannot parse because of a libpq TLS
/// option that it does not know (`sslmode=verify-full`, `sslrootcert=…`): what to use instead.
pub(super) fn parse_hint(url: &str) -> &'static str {
    let unknown = [
        "verify-full",
        "verify-ca",
        "sslrootcert",
        "sslcert",
        "sslkey",
    ];
    if !unknown.iter().any(|option| url.contains(option)) {
        return "";
    }
    " (tokio-postgres knows `sslmode` disable, prefer and require only, and no certificate \
     files: use `sslmode=require` with the builder's `tls_verify_server(true)` or \
     `tls_ca_cert` (`tls_verify_host_name(false)` for verify-ca), and `tls_client_cert`)"
}

/// What a builder was told about TLS beyond the connection string's `sslmode`.
#[derive(Clone, Default)]
pub(super) struct TlsSettings {
    /// PEM: the CA to trust instead of the system's roots.
    pub(super) ca: Option<Vec<u8>>,
    /// PEM: a client certificate (chain) and its private key.
    pub(super) client: Option<(Vec<u8>, Vec<u8>)>,
    /// Verify the server's certificate and host name (`None`: when a CA was given).
    pub(super) verify: Option<bool>,
    /// When verifying, whether the certificate must name the host (`false`: libpq's
    /// `verify-ca`).
    pub(super) host_name: Option<bool>,
}

impl TlsSettings {
    /// Whether the builder asked for anything that only TLS gives.
    fn wanted(&self) -> bool {
        self.ca.is_some() || self.client.is_some() || self.verify == Some(true)
    }

    fn verifies(&self) -> bool {
        self.verify.unwrap_or(self.ca.is_some())
    }
}

/// The connector for `settings`, and `config` made to require TLS when the settings need it:
/// a CA, a client certificate or verification is never given up for a plaintext connection.
pub(super) fn connector(
    config: &mut Config,
    settings: &TlsSettings,
) -> Result<Connector, StoreError> {
    if settings.wanted() && config.get_ssl_mode() == SslMode::Disable {
        return Err(bad(
            "a CA, a client certificate or server verification was given, but the connection \
             string says `sslmode=disable`",
        ));
    }
    if settings.verify == Some(false) && settings.ca.is_some() {
        return Err(bad(
            "a CA was given (`tls_ca_cert`) with `tls_verify_server(false)`: a CA is only used \
             to verify the server",
        ));
    }
    if settings.host_name == Some(false) && !settings.verifies() {
        return Err(bad(
            "`tls_verify_host_name(false)` needs a verified server (`tls_ca_cert` or \
             `tls_verify_server(true)`): without verification no name is checked anyway",
        ));
    }
    if settings.wanted() {
        config.ssl_mode(SslMode::Require);
    }
    make(settings)
}

#[cfg(not(feature = "postgres-rustls"))]
fn make(_: &TlsSettings) -> Result<Connector, StoreError> {
    Ok(tokio_postgres::NoTls)
}

#[cfg(feature = "postgres-rustls")]
fn make(settings: &TlsSettings) -> Result<Connector, StoreError> {
    use std::sync::Arc;

    use rustls::{crypto::ring, ClientConfig, RootCertStore};

    use crate::store::pem;

    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(bad)?;
    let builder = if settings.verifies() {
        let roots = match &settings.ca {
            Some(ca) => pem::roots(SERVER, ca)?,
            None => {
                let mut roots = RootCertStore::empty();
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(bad(format!(
                        "server verification needs root certificates, and this system has none \
                         that can be used ({} errors loading them): give the CA with \
                         `tls_ca_cert`",
                        found.errors.len()
                    )));
                }
                roots
            }
        };
        if settings.host_name == Some(false) {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifiers::ChainOnly {
                    roots: Arc::new(roots),
                    provider,
                }))
        } else {
            builder.with_root_certificates(roots)
        }
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifiers::Unverified(provider)))
    };
    let config = match &settings.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let (chain, key) = pem::client_identity(SERVER, cert, key)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| pem::mismatched_identity(SERVER, e))?
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The TLS failure behind a tokio-postgres error, if a handshake failed: tokio-postgres shows
/// only `error performing TLS handshake`, and the reason is its source.
pub(super) fn failure(e: &tokio_postgres::Error) -> Option<String> {
    use std::error::Error as _;

    if e.to_string() != "error performing TLS handshake" {
        return None;
    }
    Some(match e.source() {
        Some(source) => source.to_string(),
        None => e.to_string(),
    })
}

/// The verifiers of what libpq's `require` and `verify-ca` check; `verify-full` is rustls's
/// own (`with_root_certificates`).
#[cfg(feature = "postgres-rustls")]
mod verifiers {
    use std::sync::Arc;

    use rustls::{
        client::{
            danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
            verify_server_cert_signed_by_trust_anchor,
        },
        crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider},
        pki_types::{CertificateDer, ServerName, UnixTime},
        server::ParsedCertificate,
        DigitallySignedStruct, Error, RootCertStore, SignatureScheme,
    };

    /// libpq's `sslmode=require` (and `prefer`) without a root certificate: the connection is
    /// encrypted, and the server's certificate is neither checked against a CA nor for the host
    /// name. The handshake's signatures are still checked, so the server holds the key of the
    /// certificate it sent.
    #[derive(Debug)]
    pub(super) struct Unverified(pub(super) Arc<CryptoProvider>);

    /// libpq's `sslmode=verify-ca`: the certificate must chain to the trusted roots (and be
    /// within its dates), whatever host it names.
    #[derive(Debug)]
    pub(super) struct ChainOnly {
        pub(super) roots: Arc<RootCertStore>,
        pub(super) provider: Arc<CryptoProvider>,
    }

    impl ServerCertVerifier for Unverified {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    impl ServerCertVerifier for ChainOnly {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, Error> {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                &self.roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            let algorithms = &self.provider.signature_verification_algorithms;
            verify_tls12_signature(message, cert, dss, algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, Error> {
            let algorithms = &self.provider.signature_verification_algorithms;
            verify_tls13_signature(message, cert, dss, algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        url.parse().unwrap()
    }

    #[test]
    #[cfg(not(feature = "postgres-rustls"))]
    fn without_tls_support_a_connection_string_that_requires_tls_is_refused_naming_the_feature() {
        for url in [
            "host=db sslmode=require",
            "postgres://db/app?sslmode=require",
        ] {
            let e = super::super::PgStore::builder(url).unwrap_err();
            assert!(
                e.to_string().contains("sslmode=require")
                    && e.to_string()
                        .contains("enable the `postgres-rustls` feature"),
                "{e}"
            );
        }
        for url in [
            "host=db",
            "host=db sslmode=prefer",
            "host=db sslmode=disable",
        ] {
            let _ = super::super::PgStore::builder(url).unwrap();
        }
    }

    #[test]
    fn tls_settings_make_tls_required() {
        for verify in [None, Some(false)] {
            let mut config = config("host=db");
            let settings = TlsSettings {
                verify,
                ..TlsSettings::default()
            };
            connector(&mut config, &settings).unwrap();
            assert_eq!(config.get_ssl_mode(), SslMode::Prefer);
        }
        #[cfg(feature = "postgres-rustls")]
        {
            let mut config = config("host=db");
            let settings = TlsSettings {
                verify: Some(true),
                ..TlsSettings::default()
            };
            connector(&mut config, &settings).unwrap();
            assert_eq!(config.get_ssl_mode(), SslMode::Require);
        }
    }
}
