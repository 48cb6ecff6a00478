//! Where a [`RedisStore`](super::RedisStore) connects and how: what its builder was given (a URL
//! or client, cluster nodes, or sentinels and a master name), and the TLS and Sentinel settings
//! that turn it into the store's [`Target`].
// Without TLS support there are never certificates (an empty type): what uses them is
// unreachable.
#![cfg_attr(not(feature = "redis-rustls"), allow(unreachable_code, dead_code))]

use std::{sync::Arc, time::Duration};

use ::redis::{
    cluster::{ClusterClient, ClusterClientBuilder},
    sentinel::{SentinelClientBuilder, SentinelServerType},
    Client, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo, ProtocolVersion,
    RedisConnectionInfo, RedisError, RedisResult, TlsMode,
};

use super::{conn::Target, sentinel::Failover};
use crate::store::{StoreError, StoreErrorKind};

/// What the builder was given to reach Redis.
pub(super) enum Source {
    /// One server (from a URL or a `redis::Client`).
    Single(Client),
    /// A Redis Cluster, from some of its nodes' URLs.
    ClusterNodes(Vec<ConnectionInfo>),
    /// A Redis Cluster, from a `redis::cluster::ClusterClient` (its TLS is its own).
    ClusterClient(Box<ClusterClient>),
    /// The master that sentinels watch under a name.
    Sentinel(SentinelSource),
}

/// The sentinels, the master's name, and how to talk to the master.
pub(super) struct SentinelSource {
    pub(super) sentinels: Vec<ConnectionInfo>,
    pub(super) master_name: String,
    pub(super) master: MasterSettings,
}

/// How to talk to a master found through Sentinel (its own credentials, database and TLS: the
/// sentinels' URLs describe only the sentinels).
#[derive(Clone, Default)]
pub(super) struct MasterSettings {
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) db: i64,
    /// `None`: as the sentinels (TLS when their URLs are `rediss://`).
    pub(super) tls: Option<bool>,
}

/// The certificates of TLS connections beyond what a `rediss://` URL says: a CA to trust instead
/// of the system's roots, and a client certificate (mutual TLS).
#[derive(Clone, Default)]
pub(super) struct TlsFiles {
    pub(super) ca: Option<Vec<u8>>,
    pub(super) client: Option<(Vec<u8>, Vec<u8>)>,
}

impl TlsFiles {
    pub(super) fn is_empty(&self) -> bool {
        self.ca.is_none() && self.client.is_none()
    }
}

/// The store error for settings that cannot work.
pub(super) fn invalid_config(e: RedisError) -> StoreError {
    let hint = if e.kind() == ErrorKind::InvalidClientConfig && e.to_string().contains("TLS") {
        " (`rediss://` needs the `redis-rustls` feature of actix-typed-session)"
    } else {
        ""
    };
    StoreError::new(
        StoreErrorKind::Other,
        format!("invalid Redis configuration: {e}{hint}"),
    )
    .with_source(e)
}

fn config_error(message: impl Into<String>) -> StoreError {
    StoreError::new(
        StoreErrorKind::Other,
        format!("invalid Redis configuration: {}", message.into()),
    )
}

/// The store's target, and for a cluster the connection settings of its nodes (credentials,
/// TLS), which the session end listener needs to subscribe on every master.
pub(super) fn target(
    source: Source,
    tls: &TlsFiles,
    timeouts: (Duration, Duration),
) -> Result<(Target, Option<ConnectionInfo>), StoreError> {
    #[cfg(feature = "redis-rustls")]
    super::tls::install_provider();
    let certificates = certificates(tls)?;
    match source {
        Source::Single(client) => {
            let Some(certificates) = certificates else {
                return Ok((Target::Single(client), None));
            };
            let info = client.get_connection_info().clone();
            require_tls(&info, "the server's URL")?;
            let client = with_certificates(info, certificates)?;
            Ok((Target::Single(client), None))
        }
        Source::ClusterNodes(nodes) => {
            let mut template = nodes.first().cloned();
            let mut builder = ClusterClientBuilder::new(nodes.clone());
            if let Some(certificates) = certificates {
                for node in &nodes {
                    require_tls(node, "every cluster node's URL")?;
                }
                if let Some(first) = template.take() {
                    template = Some(
                        with_certificates(first, certificates.clone())?
                            .get_connection_info()
                            .clone(),
                    );
                }
                builder = cluster_certificates(builder, certificates);
            }
            let client = builder.build().map_err(invalid_config)?;
            Ok((Target::Cluster(Box::new(client)), template))
        }
        Source::ClusterClient(client) => {
            if certificates.is_some() {
                return Err(config_error(
                    "a CA or client certificate cannot be added to a ClusterClient made \
                     elsewhere: give them to its ClusterClientBuilder, or build the store with \
                     RedisStore::cluster_builder",
                ));
            }
            Ok((Target::Cluster(client), None))
        }
        Source::Sentinel(source) => {
            let sentinel = Arc::new(SentinelTarget::new(source, certificates, timeouts)?);
            super::sentinel::watch(&sentinel);
            Ok((Target::Sentinel(sentinel), None))
        }
    }
}

fn require_tls(info: &ConnectionInfo, what: &str) -> Result<(), StoreError> {
    match info.addr() {
        ConnectionAddr::TcpTls { .. } => Ok(()),
        _ => Err(config_error(format!(
            "a CA or client certificate was given, but {what} is not `rediss://` (TLS)"
        ))),
    }
}

#[cfg(feature = "redis-rustls")]
type Certificates = ::redis::TlsCertificates;

/// Without TLS support there are never certificates.
#[cfg(not(feature = "redis-rustls"))]
#[derive(Clone)]
pub(super) enum Certificates {}

#[cfg(feature = "redis-rustls")]
fn with_certificates(
    info: ConnectionInfo,
    certificates: Certificates,
) -> Result<Client, StoreError> {
    Client::build_with_tls(info, certificates).map_err(invalid_config)
}

#[cfg(not(feature = "redis-rustls"))]
fn with_certificates(_: ConnectionInfo, certificates: Certificates) -> Result<Client, StoreError> {
    match certificates {}
}

#[cfg(feature = "redis-rustls")]
fn cluster_certificates(
    builder: ClusterClientBuilder,
    certificates: Certificates,
) -> ClusterClientBuilder {
    builder.certs(certificates)
}

#[cfg(not(feature = "redis-rustls"))]
fn cluster_certificates(
    _: ClusterClientBuilder,
    certificates: Certificates,
) -> ClusterClientBuilder {
    match certificates {}
}

/// The certificates to give the `redis` crate, checked now so that a bad file is an error at
/// start-up that names it, rather than a failed handshake on every request.
#[cfg(feature = "redis-rustls")]
fn certificates(tls: &TlsFiles) -> Result<Option<Certificates>, StoreError> {
    if tls.is_empty() {
        return Ok(None);
    }
    super::tls::check(tls)?;
    Ok(Some(::redis::TlsCertificates {
        client_tls: tls
            .client
            .as_ref()
            .map(|(cert, key)| ::redis::ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
        root_cert: tls.ca.clone(),
    }))
}

#[cfg(not(feature = "redis-rustls"))]
fn certificates(_: &TlsFiles) -> Result<Option<Certificates>, StoreError> {
    Ok(None)
}

/// The master that sentinels watch under a name: each new connection asks the sentinels where
/// it is now, so that a connection made after a failover reaches the new master.
pub(super) struct SentinelTarget {
    sentinels: Vec<ConnectionAddr>,
    sentinel_username: Option<String>,
    sentinel_password: Option<String>,
    master_name: String,
    master: MasterSettings,
    master_tls: bool,
    #[cfg_attr(not(feature = "redis-rustls"), allow(dead_code))]
    certificates: Option<Certificates>,
    connect_timeout: Duration,
    command_timeout: Duration,
    failover: Failover,
}

impl SentinelTarget {
    fn new(
        source: SentinelSource,
        certificates: Option<Certificates>,
        (connect_timeout, command_timeout): (Duration, Duration),
    ) -> Result<Self, StoreError> {
        let SentinelSource {
            sentinels,
            master_name,
            master,
        } = source;
        let Some(first) = sentinels.first() else {
            return Err(config_error(
                "Sentinel needs the address of at least one sentinel",
            ));
        };
        if master_name.is_empty() {
            return Err(config_error("Sentinel needs the master's name"));
        }
        let sentinels_tls = matches!(first.addr(), ConnectionAddr::TcpTls { .. });
        let settings = first.redis_settings();
        let (sentinel_username, sentinel_password) = (
            settings.username().map(str::to_owned),
            settings.password().map(str::to_owned),
        );
        let mut addrs = Vec::with_capacity(sentinels.len());
        for info in sentinels {
            if matches!(info.addr(), ConnectionAddr::TcpTls { .. }) != sentinels_tls {
                return Err(config_error(
                    "the sentinels' URLs mix `redis://` and `rediss://`",
                ));
            }
            let info = match &certificates {
                Some(certificates) if sentinels_tls => {
                    with_certificates(info, certificates.clone())?
                        .get_connection_info()
                        .clone()
                }
                _ => info,
            };
            addrs.push(info.addr().clone());
        }
        let master_tls = master.tls.unwrap_or(sentinels_tls);
        if certificates.is_some() && !master_tls && !sentinels_tls {
            return Err(config_error(
                "a CA or client certificate was given, but neither the sentinels nor the master \
                 use TLS (`rediss://` sentinel URLs, or `master_tls(true)`)",
            ));
        }
        Ok(Self {
            sentinels: addrs,
            sentinel_username,
            sentinel_password,
            master_name,
            master,
            master_tls,
            certificates,
            connect_timeout,
            command_timeout,
            failover: Failover::default(),
        })
    }

    /// An error while a failover is under way: the old master's writes would be lost.
    pub(super) fn check_failover(&self) -> RedisResult<()> {
        if self.failover.under_way() {
            return Err(RedisError::from((
                ErrorKind::Server(::redis::ServerErrorKind::TryAgain),
                "Redis Sentinel is failing over the master",
                format!("{:?} waits for the new master", self.master_name),
            )));
        }
        Ok(())
    }

    /// The sentinels' addresses.
    pub(super) fn sentinels(&self) -> &[ConnectionAddr] {
        &self.sentinels
    }

    /// The sentinels' credentials.
    pub(super) fn sentinel_settings(&self) -> RedisConnectionInfo {
        let mut settings = RedisConnectionInfo::default();
        if let Some(username) = &self.sentinel_username {
            settings = settings.set_username(username);
        }
        if let Some(password) = &self.sentinel_password {
            settings = settings.set_password(password);
        }
        settings
    }

    pub(super) fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    pub(super) fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// What the store knows of the master's failovers.
    pub(super) fn failover(&self) -> &Failover {
        &self.failover
    }

    /// The master's name, as the sentinels know it.
    pub(super) fn master_name(&self) -> &str {
        &self.master_name
    }

    /// The database number on the master.
    pub(super) fn master_db(&self) -> i64 {
        self.master.db
    }

    /// A client of the current master, as the sentinels report it (and as it reports itself:
    /// `ROLE` must answer `master`).
    pub(super) async fn master(&self, protocol: ProtocolVersion) -> RedisResult<Client> {
        self.check_failover()?;
        let mut builder = SentinelClientBuilder::new(
            self.sentinels.iter().cloned(),
            &self.master_name,
            SentinelServerType::Master,
        )?
        .set_client_to_redis_db(self.master.db)
        .set_client_to_redis_protocol(protocol);
        if let Some(username) = &self.sentinel_username {
            builder = builder.set_client_to_sentinel_username(username);
        }
        if let Some(password) = &self.sentinel_password {
            builder = builder.set_client_to_sentinel_password(password);
        }
        if let Some(username) = &self.master.username {
            builder = builder.set_client_to_redis_username(username);
        }
        if let Some(password) = &self.master.password {
            builder = builder.set_client_to_redis_password(password);
        }
        if self.master_tls {
            builder = builder.set_client_to_redis_tls_mode(TlsMode::Secure);
            #[cfg(feature = "redis-rustls")]
            if let Some(certificates) = &self.certificates {
                builder = builder.set_client_to_redis_certificates(certificates.clone());
            }
        }
        builder.build()?.async_get_client().await
    }
}

/// Parses URLs into connection settings.
pub(super) fn connection_infos<T: IntoConnectionInfo>(
    urls: impl IntoIterator<Item = T>,
) -> Result<Vec<ConnectionInfo>, StoreError> {
    urls.into_iter()
        .map(IntoConnectionInfo::into_connection_info)
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid_config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_url_without_tls_support_says_which_feature_to_enable() {
        let e = invalid_config(RedisError::from((
            ErrorKind::InvalidClientConfig,
            "can't connect with TLS, the feature is not enabled",
        )));
        assert!(e.to_string().contains("`redis-rustls` feature"), "{e}");
        let e = invalid_config(RedisError::from((
            ErrorKind::InvalidClientConfig,
            "Redis URL did not parse",
        )));
        assert!(!e.to_string().contains("redis-rustls"), "{e}");
    }
}
