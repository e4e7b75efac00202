//! What the process costs, for `/metrics`: the standard Prometheus process
//! metrics and CPU per thread role, read from `/proc/self` (Linux only; other
//! systems show none of these series).
//!
//! A thread's role comes from its name (see [`role_of`]); docs/OPERATIONS.md
//! lists which threads the server names what.

use std::fmt::Write;

/// Clock ticks per second when `/proc/self/auxv` does not say (`getconf
/// CLK_TCK` is 100 on every Linux this runs on; asking `sysconf` would need
/// `unsafe`).
const DEFAULT_CLOCK_TICKS: u64 = 100;

/// The auxiliary vector's entry for clock ticks per second.
const AT_CLKTCK: u64 = 17;

/// The thread roles, in the order they are rendered.
pub(crate) const ROLES: [&str; 6] = ["zone", "io", "db", "http", "link", "other"];

/// What a thread does, from its name (at most 15 bytes as the kernel keeps it).
pub(crate) fn role_of(thread_name: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 10] = [
        ("zone", "zone"),
        ("sim-", "zone"),
        ("meridian-io", "io"),
        ("quic", "io"),
        ("ledger", "db"),
        ("sqlx", "db"),
        ("persist", "db"),
        ("db", "db"),
        ("http", "http"),
        ("shard-link", "link"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| thread_name.starts_with(prefix))
        .map_or("other", |(_, role)| role)
}

/// One `/proc/<pid>/stat` (or `/proc/self/task/<tid>/stat`) line, the fields
/// used here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stat {
    /// The thread's (or process's) name, as the kernel keeps it.
    pub(crate) name: String,
    /// Clock ticks in user mode.
    pub(crate) user_ticks: u64,
    /// Clock ticks in kernel mode.
    pub(crate) system_ticks: u64,
    /// When it started, clock ticks after boot.
    pub(crate) start_ticks: u64,
}

impl Stat {
    /// Parses a stat line; none if it is not one. The name sits in
    /// parentheses and may itself hold spaces and parentheses, so the fields
    /// are counted from the last `)`.
    pub(crate) fn parse(line: &str) -> Option<Self> {
        let open = line.find('(')?;
        let close = line.rfind(')')?;
        let name = line.get(open + 1..close)?.to_owned();
        // After the name: state (field 3), ..., utime (14), stime (15), ...,
        // starttime (22).
        let fields: Vec<&str> = line.get(close + 1..)?.split_whitespace().collect();
        let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
        Some(Self {
            name,
            user_ticks: field(14)?,
            system_ticks: field(15)?,
            start_ticks: field(22)?,
        })
    }

    fn cpu_ticks(&self) -> u64 {
        self.user_ticks + self.system_ticks
    }
}

/// The resident set from `/proc/self/status` (`VmRSS:  1234 kB`), bytes.
pub(crate) fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kilobytes: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kilobytes * 1024)
}

/// The boot time from `/proc/stat` (`btime 1700000000`), seconds since the epoch.
pub(crate) fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// Clock ticks per second from the auxiliary vector (native-endian pairs of
/// words: type, value), if it has the entry.
pub(crate) fn clock_ticks(auxv: &[u8]) -> Option<u64> {
    const WORD: usize = std::mem::size_of::<usize>();
    auxv.chunks_exact(2 * WORD).find_map(|pair| {
        let (kind, value) = pair.split_at(WORD);
        let word = |bytes: &[u8]| -> Option<u64> {
            let mut array = [0u8; WORD];
            array.copy_from_slice(bytes);
            u64::try_from(usize::from_ne_bytes(array)).ok()
        };
        (word(kind)? == AT_CLKTCK).then(|| word(value))?
    })
}

/// The process's figures at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProcessSample {
    /// User and system CPU, seconds.
    pub(crate) cpu_seconds: f64,
    /// Resident memory, bytes.
    pub(crate) resident_bytes: Option<u64>,
    /// Start time, seconds since the epoch.
    pub(crate) start_time_seconds: Option<f64>,
    /// Open file descriptors.
    pub(crate) open_fds: Option<usize>,
    /// CPU seconds per role, in [`ROLES`] order.
    pub(crate) role_cpu_seconds: [f64; ROLES.len()],
}

impl ProcessSample {
    /// Builds a sample from the texts `/proc` gave: the process's stat line,
    /// every thread's stat line, `/proc/self/status`, `/proc/stat`.
    pub(crate) fn from_texts(
        process_stat: &str,
        thread_stats: &[String],
        status: &str,
        system_stat: &str,
        ticks_per_second: u64,
    ) -> Option<Self> {
        let ticks = ticks_per_second.max(1) as f64;
        let process = Stat::parse(process_stat)?;
        let mut role_cpu_seconds = [0.0; ROLES.len()];
        for thread in thread_stats.iter().filter_map(|line| Stat::parse(line)) {
            let role = role_of(&thread.name);
            if let Some(index) = ROLES.iter().position(|known| *known == role) {
                role_cpu_seconds[index] += thread.cpu_ticks() as f64 / ticks;
            }
        }
        Some(Self {
            cpu_seconds: process.cpu_ticks() as f64 / ticks,
            resident_bytes: resident_bytes(status),
            start_time_seconds: boot_time(system_stat)
                .map(|boot| boot as f64 + process.start_ticks as f64 / ticks),
            open_fds: None,
            role_cpu_seconds,
        })
    }

    /// Reads this process's figures now; none off Linux or if `/proc` is
    /// unreadable.
    pub(crate) fn read() -> Option<Self> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        let ticks = std::fs::read("/proc/self/auxv")
            .ok()
            .and_then(|auxv| clock_ticks(&auxv))
            .unwrap_or(DEFAULT_CLOCK_TICKS);
        let process_stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // A thread that ends between the listing and the read is skipped.
        let thread_stats: Vec<String> = std::fs::read_dir("/proc/self/task")
            .ok()?
            .filter_map(Result::ok)
            .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
            .collect();
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let system_stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let mut sample =
            Self::from_texts(&process_stat, &thread_stats, &status, &system_stat, ticks)?;
        sample.open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|entries| entries.count());
        Some(sample)
    }

    /// The Prometheus text of these figures.
    pub(crate) fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {}",
            self.cpu_seconds
        );
        if let Some(bytes) = self.resident_bytes {
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {bytes}"
            );
        }
        if let Some(seconds) = self.start_time_seconds {
            let _ = writeln!(
                out,
                "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {seconds}"
            );
        }
        if let Some(fds) = self.open_fds {
            let _ = writeln!(
                out,
                "# HELP process_open_fds Number of open file descriptors.\n# TYPE process_open_fds gauge\nprocess_open_fds {fds}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP meridian_thread_cpu_seconds_total User and system CPU of the process's live threads, by role (from the thread's name).\n# TYPE meridian_thread_cpu_seconds_total counter"
        );
        for (role, seconds) in ROLES.iter().zip(self.role_cpu_seconds) {
            let _ = writeln!(
                out,
                "meridian_thread_cpu_seconds_total{{role=\"{role}\"}} {seconds}"
            );
        }
    }
}

/// Appends the process metrics to `out` (nothing where `/proc` is missing).
pub(crate) fn render(out: &mut String) {
    if let Some(sample) = ProcessSample::read() {
        sample.render(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROCESS: &str = "4242 (meridian) S 1 4242 4242 0 -1 4194560 2000 0 0 0 \
        1250 330 0 0 20 0 9 0 123456 812345344 5120 18446744073709551615 1 1 0 0 0 0 0 \
        4096 17663 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0";

    fn thread(tid: u32, name: &str, user: u64, system: u64) -> String {
        format!(
            "{tid} ({name}) S 1 4242 4242 0 -1 4194624 10 0 0 0 {user} {system} 0 0 20 0 9 0 \
             123460 812345344 5120 18446744073709551615 1 1 0 0 0 0 0 4096 17663 0 0 0 -1 0 0 0"
        )
    }

    #[test]
    fn a_stat_line_parses_even_with_spaces_and_parentheses_in_the_name() {
        let stat = Stat::parse(PROCESS).expect("parses");
        assert_eq!(
            stat,
            Stat {
                name: "meridian".into(),
                user_ticks: 1250,
                system_ticks: 330,
                start_ticks: 123_456,
            }
        );
        let odd = Stat::parse(&thread(7, "a (b) c", 5, 6)).expect("parses");
        assert_eq!((odd.name.as_str(), odd.user_ticks), ("a (b) c", 5));
        assert_eq!(Stat::parse("4242 (cut short) S 1 2"), None);
        assert_eq!(Stat::parse(""), None);
    }

    #[test]
    fn threads_map_to_roles_by_name() {
        for (name, role) in [
            ("zones", "zone"),
            ("sim-1", "zone"),
            ("meridian-io-3", "io"),
            ("ledger", "db"),
            ("sqlx-sqlite-wor", "db"),
            ("shard-link", "link"),
            ("http", "http"),
            ("meridian", "other"),
            ("tokio-runtime-w", "other"),
        ] {
            assert_eq!(role_of(name), role, "{name}");
        }
    }

    #[test]
    fn a_sample_sums_threads_by_role_and_reads_memory_and_start() {
        let threads = [
            thread(4242, "meridian", 10, 0),
            thread(4243, "meridian-io-0", 300, 100),
            thread(4244, "meridian-io-1", 200, 50),
            thread(4245, "zones", 600, 20),
            thread(4246, "sqlx-sqlite-wor", 40, 10),
            "garbage".to_owned(),
        ];
        let status = "Name:\tmeridian\nVmPeak:\t  900000 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n";
        let system = "cpu  1 2 3 4\nbtime 1700000000\nprocesses 77\n";
        let sample =
            ProcessSample::from_texts(PROCESS, &threads, status, system, 100).expect("parses");
        assert!((sample.cpu_seconds - 15.8).abs() < 1e-9);
        assert_eq!(sample.resident_bytes, Some(20_480 * 1024));
        assert_eq!(sample.start_time_seconds, Some(1_700_000_000.0 + 1234.56));
        // zone, io, db, http, link, other
        let expected = [6.2, 6.5, 0.5, 0.0, 0.0, 0.1];
        for (got, want) in sample.role_cpu_seconds.iter().zip(expected) {
            assert!((got - want).abs() < 1e-9, "{:?}", sample.role_cpu_seconds);
        }
        let mut text = String::new();
        sample.render(&mut text);
        assert!(
            text.contains("\nprocess_cpu_seconds_total 15.8\n"),
            "{text}"
        );
        assert!(text.contains("\nprocess_resident_memory_bytes 20971520\n"));
        assert!(text.contains("meridian_thread_cpu_seconds_total{role=\"zone\"} 6.2\n"));
        assert!(!text.contains("process_open_fds"), "not read from texts");
    }

    #[test]
    fn missing_figures_are_left_out_not_invented() {
        assert_eq!(resident_bytes("Name:\tmeridian\n"), None);
        assert_eq!(resident_bytes("VmRSS:\t12 MB\n"), None);
        assert_eq!(boot_time("cpu 1 2 3\n"), None);
        assert_eq!(
            ProcessSample::from_texts("nonsense", &[], "", "", 100),
            None
        );
    }

    #[test]
    fn the_clock_tick_rate_comes_from_the_auxiliary_vector() {
        let words = |pairs: &[(usize, usize)]| -> Vec<u8> {
            pairs
                .iter()
                .flat_map(|(kind, value)| {
                    let mut bytes = kind.to_ne_bytes().to_vec();
                    bytes.extend_from_slice(&value.to_ne_bytes());
                    bytes
                })
                .collect()
        };
        assert_eq!(
            clock_ticks(&words(&[(6, 4096), (17, 250), (0, 0)])),
            Some(250)
        );
        assert_eq!(clock_ticks(&words(&[(6, 4096), (0, 0)])), None);
        assert_eq!(clock_ticks(&[1, 2, 3]), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_with_plausible_values() {
        let sample = ProcessSample::read().expect("/proc/self is readable on Linux");
        assert!(sample.cpu_seconds >= 0.0);
        assert!(sample.resident_bytes.is_some_and(|bytes| bytes > 0));
        assert!(sample.open_fds.is_some_and(|fds| fds > 0));
        assert!(
            sample
                .role_cpu_seconds
                .iter()
                .all(|seconds| *seconds >= 0.0)
        );
    }
}
