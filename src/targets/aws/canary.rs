//! Canary writes on the aws target: the data-loss measurement of a live drill.
//!
//! One writer sends sequence-numbered canaries, round-robin, to the scenario's canary stores
//! (`aws.canaries`): rows to a PostgreSQL database through its bound connection, items to a
//! DynamoDB global table in the primary region, objects to a replicated S3 bucket. Each write
//! the store acknowledged goes into the ledger with its acknowledgement instant; a write whose
//! outcome is unknown (timed out) is indeterminate. After the failover drillbit reads back, from
//! each store's DR copy, which canaries arrived: the missing acknowledged ones are lost. The
//! canaries are deleted afterwards (best effort; what could not be deleted is named).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, ScalarAttributeType};

use crate::scenario::{Resource, Scenario};
use crate::targets::live::actions::Env;
use crate::targets::live::{api_error, Regional};

/// Where canaries go and where they are read back.
#[derive(Debug, Clone)]
pub enum Store {
    Postgres {
        id: String,
        write: String,
        read: String,
    },
    Dynamo {
        id: String,
        table: String,
        key: DynamoKey,
    },
    S3 {
        id: String,
        bucket: String,
        replica: String,
    },
}

impl Store {
    pub fn id(&self) -> &str {
        match self {
            Store::Postgres { id, .. } | Store::Dynamo { id, .. } | Store::S3 { id, .. } => id,
        }
    }
}

/// The stores of a scenario's `aws.canaries`, resolved against the live account (DynamoDB key
/// schemas are read with DescribeTable).
pub async fn resolve(env: &Env) -> Result<Vec<Store>, String> {
    let s: &Scenario = &env.scenario;
    let ids = s.aws.as_ref().map(|a| a.canaries.clone()).unwrap_or_default();
    let mut out = Vec::new();
    for id in ids {
        let store = match s.resource(&id) {
            Some(Resource::RdsInstance(db)) => {
                let write = db.bind.as_ref().and_then(|b| b.connection.clone()).unwrap_or_default();
                // The DR copy: the replica's own connection if bound, else the same name (a
                // DNS name or global endpoint that follows the failover).
                let read = s
                    .topology
                    .resources
                    .iter()
                    .find_map(|r| match r {
                        Resource::RdsReadReplica(rr) if rr.source == db.id => {
                            rr.bind.as_ref().and_then(|b| b.connection.clone())
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| write.clone());
                Store::Postgres { id, write, read }
            }
            Some(Resource::AuroraGlobal(db)) => {
                let c = db.bind.as_ref().and_then(|b| b.connection.clone()).unwrap_or_default();
                Store::Postgres {
                    id,
                    write: c.clone(),
                    read: c,
                }
            }
            Some(Resource::DynamodbGlobalTable(t)) => {
                let out = env
                    .clients
                    .primary
                    .dynamodb
                    .describe_table()
                    .table_name(&t.table)
                    .send()
                    .await
                    .map_err(|e| format!("canary `{id}`: {}", api_error("DescribeTable", e)))?;
                let table = out
                    .table()
                    .ok_or_else(|| format!("canary `{id}`: no table in the answer"))?;
                let ty = |name: &str| {
                    table
                        .attribute_definitions()
                        .iter()
                        .find(|a| a.attribute_name() == name)
                        .map(|a| a.attribute_type().clone())
                };
                let mut hash = None;
                let mut range = None;
                for k in table.key_schema() {
                    match k.key_type().as_str() {
                        "HASH" => hash = Some(k.attribute_name().to_string()),
                        _ => range = Some(k.attribute_name().to_string()),
                    }
                }
                let typed = |name: String| {
                    ty(&name)
                        .map(|t| (name.clone(), t))
                        .ok_or_else(|| format!("canary `{id}`: the key `{name}` of {} has no type", t.table))
                };
                let hash = hash.ok_or_else(|| format!("canary `{id}`: table {} has no hash key", t.table))?;
                Store::Dynamo {
                    id: id.clone(),
                    table: t.table.clone(),
                    key: DynamoKey {
                        hash: typed(hash)?,
                        range: range.map(typed).transpose()?,
                    },
                }
            }
            Some(Resource::S3Bucket(b)) => match &b.replication {
                Some(rep) => Store::S3 {
                    id,
                    bucket: b.bucket.clone(),
                    replica: rep.replica_bucket().to_string(),
                },
                None => return Err(format!("canary `{id}`: the bucket has no replication")),
            },
            _ => return Err(format!("canary `{id}`: not a canary store")),
        };
        out.push(store);
    }
    Ok(out)
}

/// The readiness check of the canary stores, reading only: each resolves (a DynamoDB table
/// and its key, a replicated bucket), and each PostgreSQL canary database accepts a connection
/// with its TLS settings and is a writer, its DR copy a replica (unless the same name follows
/// the failover).
pub async fn readiness(env: &Env) -> Vec<crate::targets::live::check::Item> {
    use crate::targets::live::check::Item;
    let stores = match resolve(env).await {
        Ok(s) => s,
        Err(e) => {
            return vec![Item {
                resource: "canaries".into(),
                what: "canary stores (`aws.canaries`)".into(),
                drift: Some(e),
            }]
        }
    };
    let mut out = Vec::new();
    for st in &stores {
        let Store::Postgres { id, write, read } = st else {
            out.push(Item {
                resource: st.id().to_string(),
                what: "canary store".into(),
                drift: None,
            });
            continue;
        };
        let mode = |c: &str| crate::targets::live::pgtls::parse(c).map_or("?", |s| s.mode.as_str());
        out.push(Item {
            resource: id.clone(),
            what: format!("canary database accepts writes (sslmode={})", mode(write)),
            drift: pg_role(write, false).await.err(),
        });
        if read != write {
            out.push(Item {
                resource: id.clone(),
                what: format!("DR copy of the canary database is a replica (sslmode={})", mode(read)),
                drift: pg_role(read, true).await.err(),
            });
        }
    }
    out
}

/// Connects and asks whether the server is in recovery, as `replica` expects.
async fn pg_role(conninfo: &str, replica: bool) -> Result<(), String> {
    let c = pg_connect(conninfo).await?;
    let row = c
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .map_err(|e| e.to_string())?;
    match (row.get::<_, bool>(0), replica) {
        (false, false) | (true, true) => Ok(()),
        (true, false) => Err("the server is a replica (in recovery), not the writer".into()),
        (false, true) => Err("the server is a writer, not a replica: canaries cannot reach it".into()),
    }
}

/// What the writer recorded.
#[derive(Debug, Default)]
pub struct Log {
    /// (sequence, store index, acknowledgement instant), in acknowledgement order.
    pub acked: Vec<(u64, usize, Instant)>,
    pub indeterminate: u64,
    pub errors: u64,
    pub last_error: Option<String>,
}

pub struct Writer {
    pub log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
    handle: Option<tokio::task::JoinHandle<()>>,
    pub drill: String,
    pub stores: Vec<Store>,
}

/// A canary table's key: the hash key and the range key if any, each with its type.
#[derive(Debug, Clone)]
pub struct DynamoKey {
    pub hash: (String, ScalarAttributeType),
    pub range: Option<(String, ScalarAttributeType)>,
}

impl DynamoKey {
    /// The key of canary `seq` of `drill`: unique per drill and sequence in the hash key, of
    /// whatever scalar type the table declares, and recognizable as drillbit's. A number hash
    /// key is negative with the drill's hash in its digits (`-7` + 12 digits of the drill +
    /// 12 digits of the sequence), far from any ordinary id; the range key is a constant.
    pub fn item(&self, drill: &str, seq: u64) -> HashMap<String, AttributeValue> {
        let text = format!("drillbit-canary#{drill}#{seq}");
        let number = format!("-7{:012}{seq:012}", fnv1a(drill) % 1_000_000_000_000);
        let value = |t: &ScalarAttributeType, text: String, number: String| match t {
            ScalarAttributeType::N => AttributeValue::N(number),
            ScalarAttributeType::B => AttributeValue::B(Blob::new(text.into_bytes())),
            _ => AttributeValue::S(text),
        };
        let mut key = HashMap::new();
        key.insert(self.hash.0.clone(), value(&self.hash.1, text, number));
        if let Some((r, t)) = &self.range {
            key.insert(r.clone(), value(t, "drillbit-canary".into(), "0".into()));
        }
        key
    }
}

fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn s3_key(drill: &str, seq: u64) -> String {
    format!("drillbit-canary/{drill}/{seq:012}")
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS drillbit_canary (drill text NOT NULL, seq bigint NOT NULL, \
                      acked_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (drill, seq))";

async fn pg_connect(conninfo: &str) -> Result<tokio_postgres::Client, String> {
    let fut = crate::targets::live::pgtls::connect(conninfo);
    let client = tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .map_err(|_| "connection timed out".to_string())??;
    Ok(client)
}

impl Writer {
    /// Prepares the stores (the PostgreSQL canary table) and starts writing at `rate` per second.
    pub async fn start(env: &Env, stores: Vec<Store>, rate: f64, drill: String) -> Result<Writer, String> {
        for st in &stores {
            if let Store::Postgres { id, write, .. } = st {
                let c = pg_connect(write).await.map_err(|e| format!("canary `{id}`: {e}"))?;
                c.batch_execute(CREATE)
                    .await
                    .map_err(|e| format!("canary `{id}`: {e}"))?;
            }
        }
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let primary = env.clients.primary.clone();
        let (l, st, d, list) = (log.clone(), stop.clone(), drill.clone(), stores.clone());
        let handle = tokio::spawn(async move {
            let mut pg: Vec<Option<tokio_postgres::Client>> = (0..list.len()).map(|_| None).collect();
            let period = Duration::from_secs_f64(1.0 / rate);
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seq = 0u64;
            while !st.load(Ordering::SeqCst) {
                tick.tick().await;
                seq += 1;
                let n = (seq as usize) % list.len();
                let r = tokio::time::timeout(
                    Duration::from_secs(5),
                    write_one(&primary, &list[n], &mut pg[n], &d, seq),
                )
                .await;
                let mut g = l.lock().unwrap_or_else(|e| e.into_inner());
                match r {
                    Ok(Ok(())) => g.acked.push((seq, n, Instant::now())),
                    Ok(Err(e)) => {
                        g.errors += 1;
                        g.last_error = Some(e);
                    }
                    Err(_) => {
                        // In flight when it timed out: it may or may not have landed.
                        g.indeterminate += 1;
                        pg[n] = None;
                    }
                }
            }
        });
        Ok(Writer {
            log,
            stop,
            handle: Some(handle),
            drill,
            stores,
        })
    }

    pub async fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(6), h).await;
        }
    }

    /// The sequence numbers each store's DR copy holds.
    pub async fn survivors(&self, env: &Env) -> Result<HashSet<u64>, String> {
        let mut seen = HashSet::new();
        let acked: Vec<(u64, usize)> = {
            let g = self.log.lock().unwrap_or_else(|e| e.into_inner());
            g.acked.iter().map(|(s, n, _)| (*s, *n)).collect()
        };
        for (n, st) in self.stores.iter().enumerate() {
            match st {
                Store::Postgres { id, read, .. } => {
                    let c = pg_connect(read)
                        .await
                        .map_err(|e| format!("canary `{id}` read-back: {e}"))?;
                    let rows = c
                        .query("SELECT seq FROM drillbit_canary WHERE drill = $1", &[&self.drill])
                        .await
                        .map_err(|e| format!("canary `{id}` read-back: {e}"))?;
                    seen.extend(rows.iter().map(|r| r.get::<_, i64>(0) as u64));
                }
                Store::Dynamo { id, table, key } => {
                    let mine: Vec<u64> = acked.iter().filter(|(_, k)| *k == n).map(|(s, _)| *s).collect();
                    let dr = &env.clients.dr.dynamodb;
                    for chunk in mine.chunks(100) {
                        let mut ka = KeysAndAttributes::builder().consistent_read(true);
                        for seq in chunk {
                            ka = ka.keys(key.item(&self.drill, *seq));
                        }
                        let mut pending = Some(ka.build().map_err(|e| e.to_string())?);
                        let mut rounds = 0;
                        while let Some(req) = pending.take() {
                            rounds += 1;
                            let out = dr
                                .batch_get_item()
                                .request_items(table, req)
                                .send()
                                .await
                                .map_err(|e| format!("canary `{id}` read-back: {}", api_error("BatchGetItem", e)))?;
                            for item in out.responses().and_then(|r| r.get(table)).into_iter().flatten() {
                                if let Some(AttributeValue::N(v)) = item.get("drillbit_seq") {
                                    if let Ok(s) = v.parse::<u64>() {
                                        seen.insert(s);
                                    }
                                }
                            }
                            pending = out
                                .unprocessed_keys()
                                .and_then(|u| u.get(table))
                                .filter(|k| !k.keys().is_empty() && rounds < 10)
                                .cloned();
                        }
                    }
                }
                Store::S3 { id, replica, .. } => {
                    let prefix = format!("drillbit-canary/{}/", self.drill);
                    let mut token = None;
                    loop {
                        let out = env
                            .clients
                            .dr
                            .s3
                            .list_objects_v2()
                            .bucket(replica)
                            .prefix(&prefix)
                            .set_continuation_token(token.take())
                            .send()
                            .await
                            .map_err(|e| format!("canary `{id}` read-back: {}", api_error("ListObjectsV2", e)))?;
                        for o in out.contents() {
                            if let Some(s) = o
                                .key()
                                .and_then(|k| k.strip_prefix(&prefix))
                                .and_then(|s| s.parse().ok())
                            {
                                seen.insert(s);
                            }
                        }
                        match out.next_continuation_token() {
                            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                            _ => break,
                        }
                    }
                }
            }
        }
        Ok(seen)
    }

    /// Deletes the canaries from the primary and DR copies; returns what could not be deleted.
    pub async fn clean(&self, env: &Env) -> Vec<String> {
        let mut left = Vec::new();
        let acked: Vec<(u64, usize)> = {
            let g = self.log.lock().unwrap_or_else(|e| e.into_inner());
            g.acked.iter().map(|(s, n, _)| (*s, *n)).collect()
        };
        for (n, st) in self.stores.iter().enumerate() {
            let mine: Vec<u64> = acked.iter().filter(|(_, k)| *k == n).map(|(s, _)| *s).collect();
            match st {
                Store::Postgres { id, write, read } => {
                    // Whichever side now takes writes; a read-only one refuses, which is fine.
                    let mut done = false;
                    for c in [read, write] {
                        if let Ok(client) = pg_connect(c).await {
                            if client
                                .execute("DELETE FROM drillbit_canary WHERE drill = $1", &[&self.drill])
                                .await
                                .is_ok()
                            {
                                done = true;
                            }
                        }
                    }
                    if !done {
                        left.push(format!(
                            "canary rows of drill {} in `{id}` (table drillbit_canary)",
                            self.drill
                        ));
                    }
                }
                Store::Dynamo { id, table, key } => {
                    // A global table replicates the deletes; both copies are cleaned in case
                    // replication is still paused or broken.
                    let mut deleted = false;
                    for region in [&env.clients.dr, &env.clients.primary] {
                        deleted |= delete_items(region, table, key, &self.drill, &mine).await.is_ok();
                    }
                    if !deleted {
                        left.push(format!("canary items of drill {} in `{id}`", self.drill));
                    }
                }
                Store::S3 { id, bucket, replica } => {
                    for (region, b) in [(&env.clients.primary, bucket), (&env.clients.dr, replica)] {
                        for seq in &mine {
                            if region
                                .s3
                                .delete_object()
                                .bucket(b)
                                .key(s3_key(&self.drill, *seq))
                                .send()
                                .await
                                .is_err()
                            {
                                left.push(format!("canary objects of drill {} in `{id}` ({b})", self.drill));
                                break;
                            }
                        }
                    }
                }
            }
        }
        left
    }
}

async fn delete_items(
    region: &Regional,
    table: &str,
    key: &DynamoKey,
    drill: &str,
    seqs: &[u64],
) -> Result<(), String> {
    for seq in seqs {
        region
            .dynamodb
            .delete_item()
            .table_name(table)
            .set_key(Some(key.item(drill, *seq)))
            .send()
            .await
            .map_err(|e| api_error("DeleteItem", e).to_string())?;
    }
    Ok(())
}

async fn write_one(
    primary: &Regional,
    store: &Store,
    pg: &mut Option<tokio_postgres::Client>,
    drill: &str,
    seq: u64,
) -> Result<(), String> {
    match store {
        Store::Postgres { write, .. } => {
            if pg.as_ref().is_none_or(|c| c.is_closed()) {
                *pg = Some(pg_connect(write).await?);
            }
            let c = pg.as_ref().ok_or("no connection")?;
            c.execute(
                "INSERT INTO drillbit_canary (drill, seq) VALUES ($1, $2)",
                &[&drill, &(seq as i64)],
            )
            .await
            .map(|_| ())
            .map_err(|e| {
                *pg = None;
                e.to_string()
            })
        }
        Store::Dynamo { table, key, .. } => {
            let mut item = key.item(drill, seq);
            item.insert("drillbit_seq".into(), AttributeValue::N(seq.to_string()));
            primary
                .dynamodb
                .put_item()
                .table_name(table)
                .set_item(Some(item))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| api_error("PutItem", e).to_string())
        }
        Store::S3 { bucket, .. } => primary
            .s3
            .put_object()
            .bucket(bucket)
            .key(s3_key(drill, seq))
            .body(aws_sdk_s3::primitives::ByteStream::from(seq.to_string().into_bytes()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| api_error("PutObject", e).to_string()),
    }
}
