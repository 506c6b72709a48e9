//! Local stand-ins for ECS tasks and Auto Scaling instances: real OS processes (`drillbit task`,
//! each a small TCP forwarder to its region's database) behind a per-region load balancer (a
//! [`Router`] in front of the tasks). A scale step starts or stops processes and waits until
//! each one listens; a region with no task refuses connections, as an ALB with no healthy
//! target does.
//!
//! Tasks exit by themselves when drillbit goes away: each watches its stdin, a pipe from
//! drillbit, and stops when it closes, so even a SIGKILLed drillbit leaves no task behind.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::router::{LinkMode, Router};

/// The program that runs `task` and `guard`: this executable, or DRILLBIT_EXE (for library
/// users whose executable is not drillbit).
pub(crate) fn drillbit_program() -> std::io::Result<PathBuf> {
    match std::env::var_os("DRILLBIT_EXE") {
        Some(p) => Ok(PathBuf::from(p)),
        None => std::env::current_exe(),
    }
}

pub struct Task {
    child: Child,
    pub addr: SocketAddr,
}

impl Task {
    /// Starts one task process forwarding to `backend` and waits (up to 10 s) until it listens.
    pub fn start(backend: SocketAddr) -> Result<Task, String> {
        let program = drillbit_program().map_err(|e| format!("locating drillbit: {e}"))?;
        let mut child = Command::new(&program)
            .args(["task", "--backend", &backend.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting a task ({}): {e}", program.display()))?;
        let stdout = child.stdout.take().ok_or("task has no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => match line.trim().strip_prefix("listening ").and_then(|a| a.parse().ok()) {
                Some(addr) => Ok(Task { child, addr }),
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    Err(format!("task did not start: {line:?}"))
                }
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err("task did not start within 10 s".into())
            }
        }
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One region's service: its load balancer and its tasks.
pub struct Service {
    pub lb: Router,
    backend: SocketAddr,
    tasks: Vec<Task>,
    /// The task count the region runs normally; a restored region returns to it.
    normal: u32,
    /// Whether the service exists: one its runbook deploys from IaC has no tasks to scale
    /// until then (its balancer's port is reserved and refuses connections).
    deployed: bool,
}

impl Service {
    pub fn start(handle: &tokio::runtime::Handle, backend: SocketAddr, desired: u32) -> Result<Service, String> {
        // The balancer starts pointed at the database; it refuses until a task exists.
        let lb = Router::start(handle, backend).map_err(|e| format!("load balancer: {e}"))?;
        let mut s = Service {
            lb,
            backend,
            tasks: Vec::new(),
            normal: desired,
            deployed: true,
        };
        s.scale(desired)?;
        Ok(s)
    }

    /// A service the runbook deploys (`iac.deploy`): no tasks, and scaling fails until
    /// [`Service::deploy`], as UpdateService does on a service that does not exist.
    pub fn undeployed(handle: &tokio::runtime::Handle, backend: SocketAddr) -> Result<Service, String> {
        let mut s = Service::start(handle, backend, 0)?;
        s.deployed = false;
        Ok(s)
    }

    /// The stack is deployed: the service exists, with no tasks yet. Returns whether it was new.
    pub fn deploy(&mut self) -> bool {
        !std::mem::replace(&mut self.deployed, true)
    }

    /// Starts or stops tasks until `desired` run; returns how long it took.
    pub fn scale(&mut self, desired: u32) -> Result<Duration, String> {
        if !self.deployed {
            return Err("the service does not exist (its stack was never deployed)".into());
        }
        let t0 = Instant::now();
        while self.tasks.len() < desired as usize {
            self.tasks.push(Task::start(self.backend)?);
        }
        while self.tasks.len() > desired as usize {
            if let Some(t) = self.tasks.pop() {
                t.kill();
            }
        }
        self.route();
        Ok(t0.elapsed())
    }

    /// The region is back: it runs its normal task count again.
    pub fn restore(&mut self) -> Result<Duration, String> {
        self.scale(self.normal)
    }

    /// The region fails: every task dies at once.
    pub fn kill_all(&mut self) {
        for t in self.tasks.drain(..) {
            t.kill();
        }
        self.route();
    }

    fn route(&self) {
        match self.tasks.first() {
            Some(t) => {
                self.lb.set_backend(t.addr, true);
                self.lb.set_mode(LinkMode::Forward);
            }
            None => self.lb.set_mode(LinkMode::Reset),
        }
    }

    pub fn running(&self) -> usize {
        self.tasks.len()
    }

    pub fn pids(&self) -> Vec<u32> {
        self.tasks.iter().map(Task::pid).collect()
    }

    pub fn shutdown(&mut self) {
        self.kill_all();
        self.lb.shutdown();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The body of `drillbit task`: forward 127.0.0.1:<free port> to `backend`, write
/// "listening ADDR" to `out`, and run until `input` (drillbit's pipe) closes.
pub fn run_task(backend: SocketAddr, mut input: impl Read, mut out: impl Write) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let router = Router::start(rt.handle(), backend)?;
    writeln!(out, "listening {}", router.addr())?;
    out.flush()?;
    let mut sink = [0u8; 64];
    while let Ok(n) = input.read(&mut sink) {
        if n == 0 {
            break;
        }
    }
    router.shutdown();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_says_where_it_listens_and_ends_when_its_input_closes() {
        let mut out = Vec::new();
        run_task("127.0.0.1:9".parse().unwrap(), std::io::empty(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let addr: SocketAddr = text
            .strip_prefix("listening ")
            .and_then(|a| a.strip_suffix('\n'))
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("{text:?}"));
        assert!(addr.ip().is_loopback() && addr.port() != 0, "{addr}");
    }
}
