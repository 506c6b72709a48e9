use super::*;
use std::io::{Read, Write};
use std::net::Shutdown;
use std::sync::Weak;
use tokio::runtime::Runtime;

/// Test protocol: fixed-size frames; the echo server returns each frame with byte 0 set to its tag.
const FRAME: usize = 64;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Starts a frame echo server tagged `tag` on the runtime and returns its address.
fn echo_server(rt: &Runtime, tag: u8) -> SocketAddr {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    let listener = {
        let _enter = rt.enter();
        TcpListener::from_std(std_listener).unwrap()
    };
    rt.spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut f = [0u8; FRAME];
                while s.read_exact(&mut f).await.is_ok() {
                    f[0] = tag;
                    if s.write_all(&f).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A port nothing listens on (bound once, then released).
fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

fn connect(addr: SocketAddr) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s
}

fn frame(seq: u64) -> [u8; FRAME] {
    let mut f = [0u8; FRAME];
    f[1..9].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in f[9..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31) ^ seq as u8;
    }
    f
}

fn send(s: &mut std::net::TcpStream, seq: u64) {
    s.write_all(&frame(seq)).expect("write");
}

/// Reads one reply frame, checks it echoes `seq`, and returns the server's tag.
fn recv(s: &mut std::net::TcpStream, seq: u64) -> io::Result<u8> {
    let mut r = [0u8; FRAME];
    s.read_exact(&mut r)?;
    assert_eq!(r[1..], frame(seq)[1..], "reply body for frame {seq}");
    Ok(r[0])
}

fn roundtrip(s: &mut std::net::TcpStream, seq: u64) -> u8 {
    send(s, seq);
    recv(s, seq).expect("reply")
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// Asserts the peer closed or reset the connection within `within`.
fn assert_closed(s: &mut std::net::TcpStream, within: Duration) {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; FRAME];
    match s.read(&mut b) {
        Ok(0) => {}
        Ok(n) => panic!("expected a closed connection, read {n} bytes"),
        Err(e) => assert!(!is_timeout(&e), "connection still open after {within:?}"),
    }
}

/// Connects to `addr`, sends a frame and asserts the connection is closed or reset within a second. The
/// router may abort it so fast that the reset already shows in `connect` or in the write.
fn assert_connection_refused(addr: SocketAddr) {
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return;
    };
    if s.write_all(&frame(0)).is_ok() {
        assert_closed(&mut s, Duration::from_secs(1));
    }
}

/// Asserts nothing arrives within `within` and the connection is still open.
fn assert_silent(s: &mut std::net::TcpStream, within: Duration) {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; FRAME];
    match s.read(&mut b) {
        Ok(n) => panic!("expected silence, read {n} bytes"),
        Err(e) => assert!(is_timeout(&e), "expected silence, got {e}"),
    }
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `n` sequential round trips on one connection to `addr` and returns round trips per second.
fn round_trips_per_second(addr: SocketAddr, n: u64, tag: u8) -> f64 {
    let mut s = connect(addr);
    let start = std::time::Instant::now();
    for seq in 0..n {
        assert_eq!(roundtrip(&mut s, seq), tag);
    }
    n as f64 / start.elapsed().as_secs_f64()
}

#[test]
fn router_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Router>();
}

#[test]
fn forwards_many_round_trips_and_reports_rate() {
    let rt = runtime();
    let echo = echo_server(&rt, 1);
    let router = Router::start(rt.handle(), echo).unwrap();
    const N: u64 = 5_000;
    let direct = round_trips_per_second(echo, N, 1);
    let proxied = round_trips_per_second(router.addr(), N, 1);
    eprintln!(
        "{N} x {FRAME}-byte round trips on one connection: direct {direct:.0}/s, through router {proxied:.0}/s \
         ({:.0}% of direct)",
        100.0 * proxied / direct
    );
    wait_until("the connection is closed", || router.stats().open == 0);
    let stats = router.stats();
    assert_eq!(stats.accepted, 1);
    assert_eq!(stats.bytes_up, N * FRAME as u64);
    assert_eq!(stats.bytes_down, N * FRAME as u64);
}

#[test]
fn bulk_transfer_and_half_close_pass_through() {
    let rt = runtime();
    let echo = echo_server(&rt, 9);
    let router = Router::start(rt.handle(), echo).unwrap();
    const FRAMES: u64 = 16 * 1024; // 1 MiB each way
    let mut s = connect(router.addr());
    let mut writer = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        for seq in 0..FRAMES {
            send(&mut writer, seq);
        }
        writer.shutdown(Shutdown::Write).unwrap();
    });
    for seq in 0..FRAMES {
        assert_eq!(recv(&mut s, seq).unwrap(), 9);
    }
    sender.join().unwrap();
    // The client's FIN reached the server, whose close came back as EOF.
    assert_closed(&mut s, Duration::from_secs(1));
    let stats = router.stats();
    assert_eq!(stats.bytes_up, FRAMES * FRAME as u64);
    assert_eq!(stats.bytes_down, FRAMES * FRAME as u64);
}

#[test]
fn set_backend_with_drop_closes_existing_and_repoints_new() {
    let rt = runtime();
    let (b1, b2) = (echo_server(&rt, 1), echo_server(&rt, 2));
    let router = Router::start(rt.handle(), b1).unwrap();
    let mut old = connect(router.addr());
    assert_eq!(roundtrip(&mut old, 1), 1);

    router.set_backend(b2, true);
    assert_eq!(router.backend(), b2);
    assert_closed(&mut old, Duration::from_secs(1));
    let mut new = connect(router.addr());
    assert_eq!(roundtrip(&mut new, 2), 2);
    wait_until("only the new connection is open", || router.stats().open == 1);
}

#[test]
fn set_backend_without_drop_keeps_existing_on_old_backend() {
    let rt = runtime();
    let (b1, b2) = (echo_server(&rt, 1), echo_server(&rt, 2));
    let router = Router::start(rt.handle(), b1).unwrap();
    let mut old = connect(router.addr());
    assert_eq!(roundtrip(&mut old, 1), 1);

    router.set_backend(b2, false);
    assert_eq!(roundtrip(&mut old, 2), 1);
    let mut new = connect(router.addr());
    assert_eq!(roundtrip(&mut new, 3), 2);
    assert_eq!(roundtrip(&mut old, 4), 1);

    // A later drop closes only connections that are not on the new backend.
    router.set_backend(b2, true);
    assert_closed(&mut old, Duration::from_secs(1));
    assert_eq!(roundtrip(&mut new, 5), 2);
}

#[test]
fn blackhole_silences_existing_and_new_connections_until_forward() {
    let rt = runtime();
    let echo = echo_server(&rt, 1);
    let router = Router::start(rt.handle(), echo).unwrap();
    let mut existing = connect(router.addr());
    assert_eq!(roundtrip(&mut existing, 1), 1);

    router.set_mode(LinkMode::Blackhole);
    assert_eq!(router.mode(), LinkMode::Blackhole);
    send(&mut existing, 2);
    assert_silent(&mut existing, Duration::from_millis(300));
    let mut held = connect(router.addr());
    send(&mut held, 3);
    assert_silent(&mut held, Duration::from_millis(300));
    assert_eq!(router.stats().accepted, 2);

    router.set_mode(LinkMode::Forward);
    let mut fresh = connect(router.addr());
    assert_eq!(roundtrip(&mut fresh, 4), 1);
    // Held bytes were not lost: both connections resume where they stopped.
    assert_eq!(recv(&mut existing, 2).unwrap(), 1);
    assert_eq!(recv(&mut held, 3).unwrap(), 1);
    assert_eq!(roundtrip(&mut existing, 5), 1);
}

#[test]
fn reset_closes_new_and_resets_existing_connections() {
    let rt = runtime();
    let echo = echo_server(&rt, 1);
    let router = Router::start(rt.handle(), echo).unwrap();
    let mut existing = connect(router.addr());
    assert_eq!(roundtrip(&mut existing, 1), 1);

    router.set_mode(LinkMode::Reset);
    assert_closed(&mut existing, Duration::from_secs(1));
    // The kernel completes the handshake before the router can abort the connection.
    assert_connection_refused(router.addr());
    wait_until("no connection is open", || router.stats().open == 0);

    router.set_mode(LinkMode::Forward);
    let mut fresh = connect(router.addr());
    assert_eq!(roundtrip(&mut fresh, 2), 1);
}

#[test]
fn latency_delays_each_direction() {
    let rt = runtime();
    let echo = echo_server(&rt, 1);
    let router = Router::start(rt.handle(), echo).unwrap();
    let mut s = connect(router.addr());
    assert_eq!(roundtrip(&mut s, 0), 1);

    router.set_latency(Duration::from_millis(100));
    assert_eq!(router.latency(), Duration::from_millis(100));
    let start = std::time::Instant::now();
    assert_eq!(roundtrip(&mut s, 1), 1);
    let rtt = start.elapsed();
    eprintln!("round trip with 100 ms one-way latency: {rtt:?}");
    assert!(rtt >= Duration::from_millis(200), "round trip {rtt:?} too fast");
    assert!(rtt < Duration::from_secs(2), "round trip {rtt:?} too slow");

    // Latency is a delay line, not a throttle: pipelined frames share the delay.
    let start = std::time::Instant::now();
    for seq in 10..30 {
        send(&mut s, seq);
    }
    for seq in 10..30 {
        assert_eq!(recv(&mut s, seq).unwrap(), 1);
    }
    let pipelined = start.elapsed();
    eprintln!("20 pipelined frames with 100 ms one-way latency: {pipelined:?}");
    assert!(pipelined >= Duration::from_millis(200));
    assert!(
        pipelined < Duration::from_secs(2),
        "pipelined frames took {pipelined:?}"
    );

    router.set_latency(Duration::ZERO);
    let start = std::time::Instant::now();
    assert_eq!(roundtrip(&mut s, 2), 1);
    assert!(start.elapsed() < Duration::from_millis(200));
}

#[test]
fn backend_down_closes_client_promptly() {
    let rt = runtime();
    let router = Router::start(rt.handle(), dead_addr()).unwrap();
    assert_connection_refused(router.addr());
    wait_until("the connection is gone", || router.stats().open == 0);
    assert_eq!(router.stats().accepted, 1);

    // Pointing it at a live backend heals it for new connections.
    router.set_backend(echo_server(&rt, 3), false);
    let mut s = connect(router.addr());
    assert_eq!(roundtrip(&mut s, 2), 3);
}

#[test]
fn shutdown_closes_connections_stops_accepting_and_ends_tasks() {
    let rt = runtime();
    let echo = echo_server(&rt, 1);
    let router = Router::start(rt.handle(), echo).unwrap();
    let addr = router.addr();
    let mut a = connect(addr);
    let mut b = connect(addr);
    assert_eq!(roundtrip(&mut a, 1), 1);
    assert_eq!(roundtrip(&mut b, 2), 1);
    router.set_mode(LinkMode::Blackhole);
    let mut held = connect(addr);
    wait_until("three connections are open", || router.stats().open == 3);

    router.shutdown();
    assert_closed(&mut a, Duration::from_secs(1));
    assert_closed(&mut b, Duration::from_secs(1));
    assert_closed(&mut held, Duration::from_secs(1));
    assert!(std::net::TcpStream::connect(addr).is_err(), "port still accepts");
    let stats = router.stats();
    assert_eq!((stats.accepted, stats.open), (3, 0));
    // Every task has ended: only the router itself still holds the shared state.
    assert_eq!(Arc::strong_count(&router.shared), 1);
    router.shutdown(); // idempotent
}

#[test]
fn drop_shuts_down() {
    let rt = runtime();
    let echo = echo_server(&rt, 1);
    let router = Router::start(rt.handle(), echo).unwrap();
    let addr = router.addr();
    let mut s = connect(addr);
    assert_eq!(roundtrip(&mut s, 1), 1);
    let shared: Weak<Shared> = Arc::downgrade(&router.shared);

    drop(router);
    assert!(shared.upgrade().is_none(), "a task outlived the router");
    assert_closed(&mut s, Duration::from_secs(1));
    assert!(std::net::TcpStream::connect(addr).is_err(), "port still accepts");
}

#[test]
fn start_on_a_given_port_and_restart_there() {
    let rt = runtime();
    let echo = echo_server(&rt, 4);
    let port = dead_addr().port();
    let router = Router::start_on(rt.handle(), port, echo).unwrap();
    assert_eq!(router.addr().port(), port);
    assert_eq!(roundtrip(&mut connect(router.addr()), 1), 4);
    drop(router);
    // The port is free again for the next drill.
    let router = Router::start_on(rt.handle(), port, echo).unwrap();
    assert_eq!(roundtrip(&mut connect(router.addr()), 2), 4);
}

#[test]
fn dropping_inside_a_current_thread_runtime_does_not_block_or_panic() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let router = Router::start(&Handle::current(), dead_addr()).unwrap();
        let addr = router.addr();
        let client = TcpStream::connect(addr).await.unwrap();
        let started = std::time::Instant::now();
        drop(router);
        assert!(started.elapsed() < Duration::from_millis(500));
        // The tasks end once the runtime gets to run them.
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(TcpStream::connect(addr).await.is_err(), "port still accepts");
        drop(client);
    });
}

#[test]
fn dropping_after_the_runtime_is_gone_is_harmless() {
    let rt = runtime();
    let router = Router::start(rt.handle(), dead_addr()).unwrap();
    drop(rt);
    let started = std::time::Instant::now();
    router.set_mode(LinkMode::Reset);
    router.set_backend(dead_addr(), true);
    drop(router);
    assert!(started.elapsed() < Duration::from_secs(1));
}
