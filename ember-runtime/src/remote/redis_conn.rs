//! A worker's Redis connection: one server (a reconnecting `ConnectionManager`) or a
//! Redis Cluster (the client crate's async cluster connection, which follows `MOVED`/`ASK`
//! redirections and re-reads the slot map when a master fails over).
//!
//! Both are behind one `Clone + redis::aio::ConnectionLike` type, [`RedisConn`], so code
//! that talks to Redis is written once: `let Conn::Redis(m) = &*conn else {…}; let mut m =
//! m.clone(); cmd.query_async(&mut m)`.
//!
//! # Targets
//!
//! A registry target is a URL (`redis://host:port/db`) or a cluster's seed list written
//! `cluster:` followed by node URLs separated by commas
//! (`cluster:redis://10.0.0.1:7000,redis://10.0.0.2:7000`); [`cluster_target`] builds one.
//!
//! # One slot per atomic operation
//!
//! In a cluster, a script or multi-key command may only touch keys of one hash slot. Keys
//! that must meet are built with a hash tag: `PREFIX{KEY}…` ([`tagged`]), so the entry of a
//! cache key, its version and its single-flight lease share a slot while different keys
//! spread over the masters.

use std::time::Duration;

use redis::aio::ConnectionLike;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// The prefix of a cluster target.
pub(crate) const CLUSTER: &str = "cluster:";

/// A worker's connection to one Redis server or one Redis Cluster.
#[derive(Clone)]
pub(crate) enum RedisConn {
    /// One server (or a primary behind a proxy).
    Single(redis::aio::ConnectionManager),
    /// A Redis Cluster.
    Cluster(redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            RedisConn::Single(c) => c.req_packed_command(cmd),
            RedisConn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            RedisConn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            RedisConn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConn::Single(c) => c.get_db(),
            RedisConn::Cluster(c) => c.get_db(),
        }
    }
}

impl RedisConn {
    /// Whether this is a cluster connection (keys that meet need hash tags).
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, RedisConn::Cluster(_))
    }

    /// Every key matching `pattern` (a `SCAN MATCH` pattern): on the server, or on every
    /// master of a cluster.
    pub(crate) async fn scan(&mut self, pattern: &[u8]) -> RedisResult<Vec<Vec<u8>>> {
        let mut found = Vec::new();
        match self {
            RedisConn::Single(c) => scan_node(c, pattern, None, &mut found).await?,
            RedisConn::Cluster(c) => {
                for (host, port) in masters(c).await? {
                    scan_node(c, pattern, Some((host, port)), &mut found).await?;
                }
            }
        }
        Ok(found)
    }
}

/// Walks one node's keyspace (`node`: a cluster master's address; `None`: the server).
async fn scan_node<C>(
    c: &mut C,
    pattern: &[u8],
    node: Option<(String, u16)>,
    found: &mut Vec<Vec<u8>>,
) -> RedisResult<()>
where
    C: ConnectionLike + ClusterRoute,
{
    let mut cursor: u64 = 0;
    loop {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000);
        let (next, keys): (u64, Vec<Vec<u8>>) = match &node {
            None => cmd.query_async(c).await?,
            Some((host, port)) => {
                let v = c.route_to(cmd, host.clone(), *port).await?;
                redis::from_redis_value(v)?
            }
        };
        found.extend(keys);
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

/// Sends a command to one node by address (cluster connections only).
trait ClusterRoute {
    fn route_to(&mut self, cmd: Cmd, host: String, port: u16) -> RedisFuture<'_, Value>;
}

impl ClusterRoute for redis::aio::ConnectionManager {
    fn route_to(&mut self, cmd: Cmd, _: String, _: u16) -> RedisFuture<'_, Value> {
        Box::pin(async move { cmd.query_async(self).await })
    }
}

impl ClusterRoute for redis::cluster_async::ClusterConnection {
    fn route_to(&mut self, cmd: Cmd, host: String, port: u16) -> RedisFuture<'_, Value> {
        Box::pin(async move {
            let to = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
            self.route_command(cmd, to).await
        })
    }
}

/// The masters of a cluster (`CLUSTER SLOTS`: the first node of each slot range), each
/// once.
async fn masters(
    c: &mut redis::cluster_async::ClusterConnection,
) -> RedisResult<Vec<(String, u16)>> {
    let v = c
        .route_command(
            redis::cmd("CLUSTER").arg("SLOTS").clone(),
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
        )
        .await?;
    let ranges: Vec<Vec<Value>> = redis::from_redis_value(v)?;
    let mut out: Vec<(String, u16)> = Vec::new();
    for range in ranges {
        let Some(node) = range.get(2) else { continue };
        let Ok(node) = redis::from_redis_value::<Vec<Value>>(node.clone()) else {
            continue;
        };
        let (Some(host), Some(port)) = (node.first(), node.get(1)) else {
            continue;
        };
        let (Ok(host), Ok(port)) = (
            redis::from_redis_value::<String>(host.clone()),
            redis::from_redis_value::<u16>(port.clone()),
        ) else {
            continue;
        };
        if !out.iter().any(|(h, p)| *h == host && *p == port) {
            out.push((host, port));
        }
    }
    Ok(out)
}

/// The registry target of a cluster with seed `nodes` (each may itself be a comma-separated
/// list, as an environment variable gives it).
#[cfg(test)]
pub(crate) fn cluster_target<'a>(nodes: impl IntoIterator<Item = &'a str>) -> String {
    let nodes: Vec<&str> = nodes.into_iter().collect();
    format!("{CLUSTER}{}", nodes.join(","))
}

/// The seed nodes of a cluster target, or `None` for a single server's URL.
pub(crate) fn cluster_nodes(target: &str) -> Option<Vec<&str>> {
    let list = target.strip_prefix(CLUSTER)?;
    Some(
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

/// `prefix{key}` followed by `suffix`: a key in the hash slot of `key` (an empty `key`
/// would make `{}`, which Redis does not read as a tag; `\xFF` stands in, no key of ours
/// containing that byte).
pub(crate) fn tagged(prefix: &[u8], key: &[u8], suffix: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + key.len() + suffix.len() + 2);
    k.extend_from_slice(prefix);
    k.push(b'{');
    if key.is_empty() {
        k.push(0xFF);
    } else {
        k.extend_from_slice(key);
    }
    k.push(b'}');
    k.extend_from_slice(suffix);
    k
}

/// Opens a lazy cluster connection (nodes are contacted on first use, in the
/// background); `connect` bounds each connection attempt and each reply.
pub(crate) fn open_cluster(nodes: &[&str], connect: Duration) -> RedisResult<RedisConn> {
    let client = redis::cluster::ClusterClientBuilder::new(nodes.to_vec())
        .connection_timeout(connect)
        .response_timeout(connect)
        // Redirections after a failover are followed; the caller's timeout bounds the
        // whole operation.
        .retries(3)
        .min_retry_wait(10)
        .max_retry_wait(200)
        .build()?;
    let config = redis::cluster::ClusterConfig::new()
        .set_connection_timeout(connect)
        .set_response_timeout(connect);
    Ok(RedisConn::Cluster(
        client.get_pending_async_connection_with_config(config),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_targets_round_trip_and_tags_share_a_slot() {
        let t = cluster_target(["redis://a:1", "redis://b:2,redis://c:3"]);
        assert_eq!(t, "cluster:redis://a:1,redis://b:2,redis://c:3");
        assert_eq!(
            cluster_nodes(&t),
            Some(vec!["redis://a:1", "redis://b:2", "redis://c:3"])
        );
        assert_eq!(cluster_nodes("redis://a:1"), None);
        assert_eq!(tagged(b"p:", b"GET /x", b"\xFFv"), b"p:{GET /x}\xFFv");
        assert_eq!(tagged(b"p:", b"", b""), b"p:{\xFF}");
    }
}
