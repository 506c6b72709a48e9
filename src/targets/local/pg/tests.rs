use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use super::super::procs::{all_procs, cwd_of, read_stat, wait_until};
use super::node::free_ports;
use super::*;

fn bins() -> Option<PgBinaries> {
    match PgBinaries::find() {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

fn opts(sync: SyncMode) -> ClusterOptions {
    ClusterOptions {
        sync,
        ..Default::default()
    }
}

fn up(bins: &PgBinaries, sync: SyncMode) -> Cluster {
    let mut c = Cluster::prepare(bins, opts(sync)).expect("prepare");
    let port = c.replication_port();
    c.start_standby(port).expect("start_standby");
    c
}

fn query(c: &Cluster, node: &Node, sql: &str) -> String {
    c.sql(node, sql, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .trim()
        .to_owned()
}

fn count(c: &Cluster, node: &Node) -> i64 {
    query(c, node, "SELECT count(*) FROM drill_ledger").parse().unwrap()
}

/// Processes anywhere on the machine whose cwd or command line points into `root`.
fn leftovers(root: &Path) -> Vec<i32> {
    let needle = root.to_string_lossy().into_owned();
    all_procs()
        .into_iter()
        .filter(|p| p.live() && p.pid != std::process::id() as i32)
        .filter(|p| {
            let cmdline = fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
            cwd_of(p.pid).is_some_and(|c| c.starts_with(root)) || String::from_utf8_lossy(&cmdline).contains(&needle)
        })
        .map(|p| p.pid)
        .collect()
}

fn assert_clean(c: &Cluster) {
    assert!(c.processes().is_empty(), "processes left: {:?}", c.processes());
    assert!(
        leftovers(&c.root).is_empty(),
        "leftover processes: {:?}",
        leftovers(&c.root)
    );
}

#[test]
fn finds_binaries() {
    let Some(b) = bins() else { return };
    assert!(b.bin_dir.join("initdb").exists());
    assert!(b.version.starts_with(|c: char| c.is_ascii_digit()), "{}", b.version);
    println!("PostgreSQL {} in {}", b.version, b.bin_dir.display());
}

#[test]
fn async_cluster_replicates_and_tears_down() {
    let Some(b) = bins() else { return };
    let t0 = Instant::now();
    let mut c = Cluster::prepare(&b, opts(SyncMode::Async)).expect("prepare");
    let t_prepare = t0.elapsed();
    let port = c.replication_port();
    c.start_standby(port).expect("start_standby");
    let t_setup = t0.elapsed();
    println!(
        "prepare {:.3} s, start_standby {:.3} s, total {:.3} s",
        t_prepare.as_secs_f64(),
        (t_setup - t_prepare).as_secs_f64(),
        t_setup.as_secs_f64()
    );
    assert!(c.primary.pid().is_some() && c.standby.pid().is_some());
    assert_ne!(c.primary.port, c.standby.port);
    assert_eq!(
        c.primary.conninfo(),
        format!("host=127.0.0.1 port={} user=postgres dbname=postgres", c.primary.port)
    );

    query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (1)");
    let seen = wait_until(Duration::from_secs(2), || count(&c, &c.standby) == 1);
    assert!(seen, "row not on the standby within 2 s");
    assert_eq!(query(&c, &c.standby, "SELECT pg_is_in_recovery()"), "t");
    let status = c.replication_status().expect("status");
    println!("{status}");
    assert!(status.contains("state=streaming"), "{status}");
    assert!(!c.processes().is_empty());

    let root = c.root.clone();
    let t1 = Instant::now();
    let log = c.teardown().expect("teardown");
    println!("teardown {:.3} s: {log:?}", t1.elapsed().as_secs_f64());
    assert_clean(&c);
    assert!(!root.exists());
    assert!(c.teardown().expect("second teardown").is_empty());
    assert!(c.replication_status().is_none());
}

#[test]
fn keep_leaves_data_dirs() {
    let Some(b) = bins() else { return };
    let mut c = Cluster::prepare(
        &b,
        ClusterOptions {
            keep: true,
            ..Default::default()
        },
    )
    .expect("prepare");
    c.start_standby(c.primary.port).expect("start_standby");
    c.teardown().expect("teardown");
    assert_clean(&c);
    assert!(c.primary.data_dir.join("PG_VERSION").exists());
    assert!(c.standby.data_dir.join("PG_VERSION").exists());
    assert!(c.primary.log_file().exists());
    fs::remove_dir_all(&c.root).unwrap();
}

#[test]
fn sync_mode_commits_while_standby_is_up() {
    let Some(b) = bins() else { return };
    let mut c = up(&b, SyncMode::Sync);
    query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (1)");
    assert_eq!(
        query(&c, &c.primary, "SELECT sync_state FROM pg_stat_replication"),
        "sync",
        "{:?}",
        c.replication_status()
    );
    // The standby does not inherit synchronous replication (else writes hang after promotion).
    assert_eq!(query(&c, &c.standby, "SHOW synchronous_standby_names"), "");
    c.teardown().unwrap();
    assert_clean(&c);
}

#[test]
fn remote_apply_row_visible_on_standby_at_ack() {
    let Some(b) = bins() else { return };
    let c = up(&b, SyncMode::RemoteApply);
    for seq in 1..=5 {
        query(
            &c,
            &c.primary,
            &format!("INSERT INTO drill_ledger (seq) VALUES ({seq})"),
        );
        assert_eq!(count(&c, &c.standby), seq);
    }
}

#[test]
fn kill_postmaster_then_promote_keeps_rows() {
    let Some(b) = bins() else { return };
    let mut c = up(&b, SyncMode::Async);
    for i in 1..=100 {
        query(&c, &c.primary, &format!("INSERT INTO drill_ledger (seq) VALUES ({i})"));
    }
    assert!(wait_until(Duration::from_secs(5), || count(&c, &c.standby) == 100));
    let old_pid = c.primary.pid().unwrap();

    c.kill_primary(false).expect("kill");
    assert!(wait_until(Duration::from_secs(2), || c.primary.pid().is_none()));
    assert!(c.kill_primary(false).is_err(), "killing a dead primary must fail");
    let took = c.promote_standby().expect("promote");
    println!(
        "promote (postmaster killed): writable after {:.1} ms",
        took.as_secs_f64() * 1000.0
    );
    assert_eq!(count(&c, &c.standby), 100);
    query(&c, &c.standby, "INSERT INTO drill_ledger (seq) VALUES (101)");
    assert_eq!(query(&c, &c.standby, "SELECT pg_is_in_recovery()"), "f");

    let log = c.teardown().expect("teardown");
    println!("teardown: {log:?}");
    assert_clean(&c);
    assert!(
        log.iter().any(|l| l.contains("SysV")),
        "no leaked segment removed: {log:?}"
    );
    let shm = fs::read_to_string("/proc/sysvipc/shm").unwrap_or_default();
    let leaked = shm
        .lines()
        .skip(1)
        .any(|l| l.split_whitespace().nth(4) == Some(&old_pid.to_string()));
    assert!(!leaked, "segment of killed postmaster {old_pid} left:\n{shm}");
}

#[test]
fn teardown_right_after_postmaster_kill() {
    let Some(b) = bins() else { return };
    let mut c = up(&b, SyncMode::Sync);
    c.stop_primary().unwrap(); // orphans that are stopped too
    c.kill_primary(false).unwrap();
    let log = c.teardown().expect("teardown");
    println!("{log:?}");
    assert_clean(&c);
    assert!(!c.root.exists());
}

#[test]
fn kill_whole_tree_then_promote() {
    let Some(b) = bins() else { return };
    let mut c = up(&b, SyncMode::Async);
    query(
        &c,
        &c.primary,
        "INSERT INTO drill_ledger (seq) SELECT generate_series(1, 10)",
    );
    assert!(wait_until(Duration::from_secs(5), || count(&c, &c.standby) == 10));
    c.kill_primary(true).expect("kill tree");
    assert!(
        c.primary.procs().is_empty(),
        "primary processes left: {:?}",
        c.primary.procs()
    );
    let took = c.promote_standby().expect("promote");
    println!(
        "promote (whole tree killed): writable after {:.1} ms",
        took.as_secs_f64() * 1000.0
    );
    assert_eq!(count(&c, &c.standby), 10);
    c.teardown().unwrap();
    assert_clean(&c);
}

#[test]
fn stop_and_cont_primary() {
    let Some(b) = bins() else { return };
    let mut c = up(&b, SyncMode::Async);
    c.stop_primary().expect("stop");
    let t = Instant::now();
    let hung = c.sql(&c.primary, "SELECT 1", Duration::from_secs(4));
    assert!(hung.is_err(), "a stopped primary answered");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(c.replication_status().is_none());
    c.cont_primary().expect("cont");
    assert_eq!(query(&c, &c.primary, "SELECT 1"), "1");
    query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (1)");

    // Teardown while stopped.
    c.stop_primary().expect("stop again");
    let t = Instant::now();
    let log = c.teardown().expect("teardown while stopped");
    println!(
        "teardown of a stopped primary {:.3} s: {log:?}",
        t.elapsed().as_secs_f64()
    );
    assert_clean(&c);
    assert!(!c.root.exists());
}

#[test]
fn pause_replay_hides_new_rows_until_resume() {
    let Some(b) = bins() else { return };
    let c = up(&b, SyncMode::Async);
    query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (1)");
    assert!(wait_until(Duration::from_secs(2), || count(&c, &c.standby) == 1));
    c.pause_replay().expect("pause");
    query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (2)");
    thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&c, &c.standby), 1, "row replayed while paused");
    c.resume_replay().expect("resume");
    assert!(wait_until(Duration::from_secs(5), || count(&c, &c.standby) == 2));
}

#[test]
fn drop_stops_everything() {
    let Some(b) = bins() else { return };
    let (root, pids) = {
        let c = up(&b, SyncMode::Sync);
        c.stop_primary().unwrap(); // even a hung primary
        (c.root.clone(), c.processes())
    };
    assert!(!pids.is_empty());
    let alive: Vec<i32> = pids
        .into_iter()
        .filter(|p| read_stat(*p).is_some_and(|s| s.live()))
        .collect();
    assert!(alive.is_empty(), "still alive after drop: {alive:?}");
    assert!(leftovers(&root).is_empty());
    assert!(!root.exists());
}

#[test]
fn wrong_replication_port_fails_cleanly() {
    let Some(b) = bins() else { return };
    let mut c = Cluster::prepare(&b, opts(SyncMode::Sync)).expect("prepare");
    let wrong = free_ports(1).unwrap()[0]; // nothing listens there
    let t = Instant::now();
    let err = c.start_standby(wrong).expect_err("must fail");
    println!("failed after {:.3} s: {err}", t.elapsed().as_secs_f64());
    assert!(t.elapsed() < STREAMING_TIMEOUT + Duration::from_secs(5));
    assert!(
        matches!(&err, PgError::Step { step, .. } if step.contains("pg_basebackup")),
        "{err}"
    );
    assert!(err.to_string().contains(&wrong.to_string()), "{err}");
    // The primary still works (sync mode without standby: local commits only).
    query(&c, &c.primary, "SELECT 1");
    c.teardown().expect("teardown");
    assert_clean(&c);
    assert!(!c.root.exists());
}

/// A minimal TCP forwarder standing in for drillbit's link proxy.
struct Proxy {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        use std::net::TcpStream;
        use std::sync::atomic::AtomicBool;
        use std::sync::Arc;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (stop2, conns2) = (stop.clone(), conns.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let Ok((down, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(5));
                    continue;
                };
                down.set_nonblocking(false).unwrap();
                let Ok(up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let mut list = conns2.lock().unwrap();
                list.push(down.try_clone().unwrap());
                list.push(up.try_clone().unwrap());
                for (mut from, mut to) in [(down.try_clone().unwrap(), up.try_clone().unwrap()), (up, down)] {
                    thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, stop, conns }
    }

    fn cut(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[test]
fn replication_through_a_proxy_can_be_cut() {
    let Some(b) = bins() else { return };
    let mut c = Cluster::prepare(&b, opts(SyncMode::Async)).expect("prepare");
    let proxy = Proxy::start(c.primary.port);
    c.start_standby(proxy.port).expect("start_standby via proxy");
    let conninfo = query(&c, &c.standby, "SHOW primary_conninfo");
    assert!(conninfo.contains(&format!("port={}", proxy.port)), "{conninfo}");
    query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (1)");
    assert!(wait_until(Duration::from_secs(2), || count(&c, &c.standby) == 1));

    proxy.cut();
    let gone = || query(&c, &c.primary, "SELECT count(*) FROM pg_stat_replication") == "0";
    assert!(wait_until(Duration::from_secs(5), gone), "{:?}", c.replication_status());
    assert!(c.replication_status().unwrap().contains("no standby connected"));
    query(&c, &c.primary, "INSERT INTO drill_ledger (seq) VALUES (2)");
    thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&c, &c.standby), 1, "a row crossed a cut link");
    c.teardown().unwrap();
    assert_clean(&c);
}

#[test]
fn unreachable_parent_is_reported() {
    let Some(b) = bins() else { return };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let parent = std::env::temp_dir().join(format!("drillbit-pg-private-{}", std::process::id()));
    fs::DirBuilder::new().mode(0o700).create(&parent).unwrap();
    let err = Cluster::prepare(
        &b,
        ClusterOptions {
            parent: Some(parent.clone()),
            ..Default::default()
        },
    )
    .expect_err("must fail");
    assert!(err.to_string().contains("not searchable"), "{err}");
    assert_eq!(fs::read_dir(&parent).unwrap().count(), 0, "temp dir left behind");
    fs::remove_dir(&parent).unwrap();
}

#[test]
fn failed_prepare_cleans_up() {
    let Some(b) = bins() else { return };
    let parent = std::env::temp_dir().join(format!("drillbit-pg-test-{}", std::process::id()));
    let broken = PgBinaries {
        bin_dir: PathBuf::from("/nonexistent"),
        version: b.version.clone(),
    };
    let err = Cluster::prepare(
        &broken,
        ClusterOptions {
            parent: Some(parent.clone()),
            ..Default::default()
        },
    )
    .expect_err("must fail");
    assert!(err.to_string().contains("initdb"), "{err}");
    assert_eq!(fs::read_dir(&parent).unwrap().count(), 0, "temp dir left behind");
    fs::remove_dir(&parent).unwrap();
}

/// A primary archiving its WAL, no standby.
fn archiving(bins: &PgBinaries) -> Cluster {
    Cluster::prepare(
        bins,
        ClusterOptions {
            archive: true,
            ..Default::default()
        },
    )
    .expect("prepare")
}

/// A base backup copied to a second vault restores on its own to the end of the backup; the
/// WAL archive restores to just before a bad write and no further; the copy is checked against
/// the manifest (a damaged copy is refused).
#[test]
fn backup_copy_and_point_in_time_restore() {
    let Some(bins) = bins() else { return };
    let mut c = archiving(&bins);
    let size = c.generate_data(0.01).expect("generate");
    assert!(size > 10 << 20, "database of {size} bytes");
    let main = c.make_vault("production-vault", "us-east-1").expect("vault");
    let dr = c.make_vault("dr-vault", "us-west-2").expect("vault");
    c.archive_into(&main).expect("archive");
    query(
        &c,
        &c.primary,
        "INSERT INTO drill_ledger (seq) SELECT g FROM generate_series(1, 100) g",
    );
    let tool = c.backup_tool();
    let rp = tool.base_backup(c.primary.port, &main, "rp-1").expect("base backup");
    assert!(rp.bytes >= size / 2, "backup of {} bytes", rp.bytes);
    let copy = tool.copy(&rp, &dr).expect("copy");
    assert_eq!(copy.vault, "dr-vault");
    // After the backup: 50 more writes, then the bad write, then 10 more.
    query(
        &c,
        &c.primary,
        "INSERT INTO drill_ledger (seq) SELECT g FROM generate_series(101, 150) g",
    );
    let xid: u64 = query(
        &c,
        &c.primary,
        "DELETE FROM drill_ledger WHERE seq % 2 = 0; SELECT txid_current()",
    )
    .parse()
    .unwrap();
    query(
        &c,
        &c.primary,
        "INSERT INTO drill_ledger (seq) SELECT g FROM generate_series(151, 160) g",
    );
    c.flush_archive(Duration::from_secs(20)).expect("archive flushed");

    // A damaged copy fails its check.
    let bad = c.make_vault("bad", "us-west-2").expect("vault");
    let broken = tool.copy(&rp, &bad).expect("copy");
    fs::write(broken.dir.join("PG_VERSION"), "99\n").unwrap();
    assert!(
        tool.verify(&broken.dir, "check").is_err(),
        "a damaged copy passed its check"
    );

    let stats = c
        .restore(
            &copy,
            &RestoreTarget::BeforeXid {
                wal: main.wal_dir(),
                xid,
            },
        )
        .expect("restore");
    assert!(stats.bytes > 0);
    // Everything before the bad write, nothing of it, nothing after it.
    assert_eq!(count(&c, &c.standby), 150);
    assert_eq!(query(&c, &c.standby, "SELECT max(seq) FROM drill_ledger"), "150");
    assert_eq!(count(&c, &c.primary), 85);
    query(&c, &c.standby, "INSERT INTO drill_ledger (seq) VALUES (1000)");
    // A second restore into the same instance is refused.
    assert!(c.restore(&copy, &RestoreTarget::EndOfBackup).is_err());
    c.teardown().expect("teardown");
    assert_clean(&c);
}

/// A restore from a base backup alone ends where the backup ended.
#[test]
fn a_snapshot_restore_holds_what_the_backup_held() {
    let Some(bins) = bins() else { return };
    let mut c = archiving(&bins);
    let vault = c.make_vault("v", "us-west-2").expect("vault");
    query(
        &c,
        &c.primary,
        "INSERT INTO drill_ledger (seq) SELECT g FROM generate_series(1, 40) g",
    );
    let rp = c
        .backup_tool()
        .base_backup(c.primary.port, &vault, "rp")
        .expect("backup");
    query(
        &c,
        &c.primary,
        "INSERT INTO drill_ledger (seq) SELECT g FROM generate_series(41, 60) g",
    );
    c.restore(&rp, &RestoreTarget::EndOfBackup).expect("restore");
    assert_eq!(count(&c, &c.standby), 40);
    c.teardown().expect("teardown");
    assert_clean(&c);
}
