//! `SCAN` (never `KEYS`) over a key prefix, on the one server or on every cluster master.

use std::collections::HashSet;

use ::redis::{
    cluster_routing::{RoutingInfo, SingleNodeRoutingInfo},
    cmd, from_redis_value, Cmd, RedisError, Value,
};

use super::conn::{Conn, Connections};
use crate::store::StoreError;

/// Keys asked for per `SCAN` step.
const PAGE: usize = 1000;

/// The `SCAN MATCH` pattern of every key that starts with `prefix`.
pub(super) fn pattern(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

/// Every key matching `pattern`, each once.
pub(super) async fn keys(conns: &Connections, pattern: &str) -> Result<Vec<Vec<u8>>, StoreError> {
    let nodes = match conns.target() {
        super::conn::Target::Single(_) | super::conn::Target::Sentinel(_) => vec![None],
        super::conn::Target::Cluster(_) => masters(conns).await?.into_iter().map(Some).collect(),
    };
    let mut found = HashSet::new();
    for node in nodes {
        let mut cursor = 0_u64;
        loop {
            let mut scan = cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(pattern)
                .arg("COUNT")
                .arg(PAGE);
            let node = node.clone();
            let (next, batch): (u64, Vec<Vec<u8>>) = conns
                .run("scan", |mut conn| async move {
                    let value = route(&mut conn, scan, node).await?;
                    Ok(from_redis_value(value)?)
                })
                .await?;
            found.extend(batch);
            cursor = next;
            if cursor == 0 {
                break;
            }
        }
    }
    Ok(found.into_iter().collect())
}

/// Sends `command` to one cluster node (`Some((host, port))`) or as usual.
pub(super) async fn route(
    conn: &mut Conn,
    command: Cmd,
    node: Option<(String, u16)>,
) -> Result<Value, RedisError> {
    match (conn, node) {
        (Conn::Cluster(cluster), Some((host, port))) => {
            let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
            cluster.route_command(command, routing).await
        }
        (conn, _) => command.query_async(conn).await,
    }
}

/// The address of every cluster master, from `CLUSTER SLOTS`.
pub(super) async fn masters(conns: &Connections) -> Result<Vec<(String, u16)>, StoreError> {
    let slots: Value = conns
        .run("cluster slots", |mut conn| async move {
            cmd("CLUSTER").arg("SLOTS").query_async(&mut conn).await
        })
        .await?;
    let mut masters = Vec::new();
    if let Value::Array(ranges) = slots {
        for range in ranges {
            // [start, end, [host, port, id, …], replicas…]
            let Value::Array(mut parts) = range else {
                continue;
            };
            if parts.len() < 3 {
                continue;
            }
            let Value::Array(node) = parts.swap_remove(2) else {
                continue;
            };
            let mut node = node.into_iter();
            let (Some(host), Some(port)) = (node.next(), node.next()) else {
                continue;
            };
            let (Ok(host), Ok(port)) = (
                from_redis_value::<String>(host),
                from_redis_value::<u16>(port),
            ) else {
                continue;
            };
            if !masters.contains(&(host.clone(), port)) {
                masters.push((host, port));
            }
        }
    }
    if masters.is_empty() {
        return Err(StoreError::unavailable("Redis Cluster reported no master"));
    }
    Ok(masters)
}
