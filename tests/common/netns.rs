//! A network of a test's own: hosts in network namespaces on a bridge in the
//! root namespace, with `tc netem` delay on every host's way out (where the
//! kernel has netem), a silent partition of one host (the root end of its
//! veth taken down) and its heal, and a TCP forwarder that lets the hosts
//! reach services listening on the root namespace's loopback through the
//! bridge's address (the host side).
//!
//! Everything made (namespaces, the bridge, processes registered with
//! [`teardown`]) is taken down when the [`Network`] is dropped, or by the
//! caller's watchdog through [`teardown`]. Namespaces and bridges of runs
//! whose process was killed first are removed by the next run, with whatever
//! still runs in those namespaces.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// Delay on every host's way out: `netem delay 20ms 5ms` (queue of 10,000).
const NETEM: [&str; 5] = ["delay", "20ms", "5ms", "limit", "10000"];

/// Runs `program args`, and says what went wrong if it did not succeed.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("{program} {}: {error}", args.join(" ")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {} {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// What `ip ...` prints.
fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
}

/// Why this machine cannot run the test, if it cannot.
pub(crate) fn missing_piece() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|line| line.starts_with("Uid:"))
        .and_then(|line| line.split_whitespace().nth(2))
        == Some("0");
    if !root {
        return Some("not root: network namespaces need CAP_NET_ADMIN".to_owned());
    }
    for tool in ["ip", "tc"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !found {
            return Some(format!("no `{tool}` (iproute2)"));
        }
    }
    None
}

/// Everything the test made outside itself: processes, namespaces, the
/// bridge. Taken down by [`Teardown::run`] from the guard's drop or from the
/// hard-limit watchdog, whichever comes first; taking it down twice is
/// harmless.
#[derive(Debug, Default)]
pub(crate) struct Teardown {
    pub(crate) pids: Vec<u32>,
    namespaces: Vec<String>,
    bridge: Option<String>,
}

impl Teardown {
    pub(crate) fn run(&mut self) {
        for pid in self.pids.drain(..) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        // Deleting a namespace deletes the veth inside it, and so its peer.
        for namespace in self.namespaces.drain(..) {
            remove_namespace(&namespace);
        }
        if let Some(bridge) = self.bridge.take() {
            let _ = run("ip", &["link", "del", &bridge]);
        }
    }
}

/// Kills whatever still runs in `namespace` (only processes this test
/// started live in its namespaces), then deletes it.
fn remove_namespace(namespace: &str) {
    for pid in ip_output(&["netns", "pids", namespace]).split_whitespace() {
        let _ = Command::new("kill")
            .args(["-KILL", pid])
            .stderr(Stdio::null())
            .status();
    }
    let _ = run("ip", &["netns", "del", namespace]);
}

/// The one teardown of this process.
static TEARDOWN: Mutex<Teardown> = Mutex::new(Teardown {
    pids: Vec::new(),
    namespaces: Vec::new(),
    bridge: None,
});

pub(crate) fn teardown() -> std::sync::MutexGuard<'static, Teardown> {
    TEARDOWN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Namespaces (with what still runs in them: the shards and bots of a test
/// process killed with SIGKILL outlive it) and bridges left by runs of this
/// test whose process is gone.
fn remove_leftovers() {
    let alive = |pid: &str| std::path::Path::new(&format!("/proc/{pid}")).exists();
    for line in ip_output(&["netns", "list"]).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        if let Some(rest) = name.strip_prefix("mpart-")
            && let Some((pid, _)) = rest.split_once('-')
            && !alive(pid)
        {
            remove_namespace(name);
        }
    }
    for line in ip_output(&["-o", "link", "show", "type", "bridge"]).lines() {
        let name = line
            .split(':')
            .nth(1)
            .map(str::trim)
            .unwrap_or_default()
            .split('@')
            .next()
            .unwrap_or_default();
        if let Some(pid) = name.strip_prefix("mpbr")
            && !alive(pid)
        {
            let _ = run("ip", &["link", "del", name]);
        }
    }
}

/// One host: a namespace with one veth to the bridge (the network the
/// partition cuts), and for a shard a second, point-to-point veth to the root
/// namespace that only the test uses, to read the shard's metrics whatever
/// happens to the first (an out-of-band management link).
#[derive(Debug, Clone)]
pub(crate) struct Host {
    pub(crate) namespace: String,
    /// The veth's end in the root namespace (on the bridge).
    pub(crate) outside: String,
    pub(crate) address: Ipv4Addr,
    /// The host's end of its management link, if it has one.
    pub(crate) management: Option<Ipv4Addr>,
}

impl Host {
    /// Runs `program args` inside this host's namespace.
    pub(crate) fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        let mut all = vec!["netns", "exec", &self.namespace, program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Delays what the host sends with netem; `Ok(false)` if this kernel has
    /// no netem (`CONFIG_NET_SCH_NETEM`), and then nothing is delayed.
    fn delay(&self) -> Result<bool, String> {
        let mut args = vec!["qdisc", "add", "dev", "eth0", "root", "netem"];
        args.extend_from_slice(&NETEM);
        match self.run("tc", &args) {
            Ok(()) => Ok(true),
            Err(why) if why.contains("qdisc kind is unknown") => Ok(false),
            Err(why) => Err(why),
        }
    }

    /// Cuts the host off, silently: the root namespace's end of its veth goes
    /// down, so the bridge delivers nothing to it and what it sends is
    /// dropped by the veth (no carrier). Its own interface keeps its address
    /// and routes: its sockets see no error, only silence, as in a real
    /// partition.
    pub(crate) fn cut(&self) -> Result<(), String> {
        run("ip", &["link", "set", &self.outside, "down"])
    }

    /// Connects the host again.
    pub(crate) fn heal(&self) -> Result<(), String> {
        run("ip", &["link", "set", &self.outside, "up"])
    }

    pub(crate) fn socket(&self, port: u16) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.address, port))
    }
}

/// The bridge and its hosts: three shards and the bots. Torn down on drop.
pub(crate) struct Network {
    /// The bridge's address: the host side, where the forwarder listens.
    pub(crate) gateway: Ipv4Addr,
    pub(crate) shards: Vec<Host>,
    pub(crate) bots: Host,
    /// Whether netem delays what each host sends (false where the kernel has
    /// no netem).
    pub(crate) delayed: bool,
}

impl Network {
    /// Makes the bridge and the four hosts, or says why it could not.
    pub(crate) fn build() -> Result<Self, String> {
        remove_leftovers();
        let pid = std::process::id();
        // A /24 of 10.200.0.0/13 chosen by the process id, skipping any in use.
        let in_use = ip_output(&["-4", "addr"]);
        let subnet = (0..2048u32)
            .map(|step| (pid + step) % 2048)
            .map(|n| (200 + (n / 256) as u8, (n % 256) as u8))
            .find(|(b, c)| !in_use.contains(&format!("10.{b}.{c}.")))
            .ok_or("no free 10.200.0.0/13 subnet")?;
        let address = |last: u8| Ipv4Addr::new(10, subnet.0, subnet.1, last);
        let bridge = format!("mpbr{pid}");
        teardown().bridge = Some(bridge.clone());
        run("ip", &["link", "add", &bridge, "type", "bridge"])?;
        run(
            "ip",
            &["addr", "add", &format!("{}/24", address(1)), "dev", &bridge],
        )?;
        run("ip", &["link", "set", &bridge, "up"])?;
        let mut hosts = Vec::new();
        let mut delayed = false;
        for (index, name) in ["s1", "s2", "s3", "bots"].iter().enumerate() {
            let host = Host {
                namespace: format!("mpart-{pid}-{name}"),
                outside: format!("mp{pid}{}", &name[..2]),
                address: address(11 + index as u8),
                management: (*name != "bots").then(|| address(111 + index as u8)),
            };
            teardown().namespaces.push(host.namespace.clone());
            run("ip", &["netns", "add", &host.namespace])?;
            run(
                "ip",
                &[
                    "link",
                    "add",
                    &host.outside,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    &host.namespace,
                ],
            )?;
            run("ip", &["link", "set", &host.outside, "master", &bridge])?;
            run("ip", &["link", "set", &host.outside, "up"])?;
            host.run("ip", &["link", "set", "lo", "up"])?;
            host.run(
                "ip",
                &[
                    "addr",
                    "add",
                    &format!("{}/24", host.address),
                    "dev",
                    "eth0",
                ],
            )?;
            host.run("ip", &["link", "set", "eth0", "up"])?;
            delayed = host.delay()?;
            if let Some(inside) = host.management {
                // Point to point, on addresses of the same /24 with /32
                // routes, so nothing else is routed over it.
                let outside = format!("mm{pid}{}", &name[..2]);
                let root_end = address(211 + index as u8);
                run(
                    "ip",
                    &[
                        "link",
                        "add",
                        &outside,
                        "type",
                        "veth",
                        "peer",
                        "name",
                        "manage",
                        "netns",
                        &host.namespace,
                    ],
                )?;
                run(
                    "ip",
                    &[
                        "addr",
                        "add",
                        &root_end.to_string(),
                        "peer",
                        &inside.to_string(),
                        "dev",
                        &outside,
                    ],
                )?;
                run("ip", &["link", "set", &outside, "up"])?;
                host.run(
                    "ip",
                    &[
                        "addr",
                        "add",
                        &inside.to_string(),
                        "peer",
                        &root_end.to_string(),
                        "dev",
                        "manage",
                    ],
                )?;
                host.run("ip", &["link", "set", "manage", "up"])?;
            }
            hosts.push(host);
        }
        let bots = hosts.pop().expect("four hosts");
        Ok(Self {
            gateway: address(1),
            shards: hosts,
            bots,
            delayed,
        })
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        teardown().run();
    }
}

// ---------------------------------------------------------------------------
// The forwarder: the host side of PostgreSQL and Redis

/// Relays TCP from the bridge's address to services on the root namespace's
/// loopback, one task per connection (both directions). Stopped (every
/// connection closed) on drop.
pub(crate) struct Forwarder {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Forwarder {
    /// Listens on each route's first address and relays to its second.
    pub(crate) fn start(routes: &[(SocketAddr, SocketAddr)]) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("forwarder")
            .enable_all()
            .build()?;
        for &(listen, target) in routes {
            let listener = runtime.block_on(tokio::net::TcpListener::bind(listen))?;
            runtime.spawn(async move {
                loop {
                    let Ok((mut inbound, _)) = listener.accept().await else {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    };
                    tokio::spawn(async move {
                        let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                            return;
                        };
                        let _ = inbound.set_nodelay(true);
                        let _ = outbound.set_nodelay(true);
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    });
                }
            });
        }
        Ok(Self {
            runtime: Some(runtime),
        })
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// `url` (`scheme://[user@]host:port/rest`) with `host:port` replaced.
pub(crate) fn through(url: &str, address: SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").expect("scheme://...");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let user = authority
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"))
        .unwrap_or_default();
    format!("{scheme}://{user}{address}/{path}")
}

/// `host:port` of `url` as a socket address (a default port if none).
pub(crate) fn service_address(url: &str, default_port: u16) -> SocketAddr {
    let rest = url.split_once("://").expect("scheme://...").1;
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    host_port
        .parse()
        .or_else(|_| format!("{host_port}:{default_port}").parse())
        .unwrap_or_else(|_| panic!("a numeric host:port in {url}"))
}
