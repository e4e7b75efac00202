//! loadbot's own CPU over the measurement window, from `/proc/self` (Linux;
//! none elsewhere): the whole process, and the client loop's thread alone
//! (every bot's QUIC, snapshot decoding and behaviour run there).

use std::time::Instant;

/// Clock ticks per second (`getconf CLK_TCK` is 100 on every Linux this runs
/// on; asking `sysconf` would need `unsafe`).
const CLOCK_TICKS: f64 = 100.0;

/// CPU used so far, at one moment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuSample {
    at: Instant,
    /// The process's user + system clock ticks.
    process_ticks: u64,
    /// The named thread's, if it exists.
    thread_ticks: Option<u64>,
}

/// CPU between two samples, percent of one core.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CpuUse {
    pub(crate) process_pct: Option<f64>,
    pub(crate) thread_pct: Option<f64>,
}

/// The process's and the thread called `thread_name`'s CPU so far. The main
/// thread is never taken for it (it carries the binary's name, which may be
/// the same).
pub(crate) fn sample(thread_name: &str) -> Option<CpuSample> {
    let at = Instant::now();
    let process = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (_, process_ticks) = parse_stat(&process)?;
    let main_thread = process.split_whitespace().next()?.to_owned();
    let thread_ticks = std::fs::read_dir("/proc/self/task").ok().and_then(|tasks| {
        tasks.flatten().find_map(|task| {
            if task.file_name().to_str() == Some(main_thread.as_str()) {
                return None;
            }
            let line = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let (name, ticks) = parse_stat(&line)?;
            (name == thread_name).then_some(ticks)
        })
    });
    Some(CpuSample {
        at,
        process_ticks,
        thread_ticks,
    })
}

/// What was used between `first` and `last`.
pub(crate) fn between(first: CpuSample, last: CpuSample) -> CpuUse {
    let seconds = last.at.duration_since(first.at).as_secs_f64();
    let percent = |from: u64, to: u64| {
        (seconds > 0.0).then(|| to.saturating_sub(from) as f64 / CLOCK_TICKS / seconds * 100.0)
    };
    CpuUse {
        process_pct: percent(first.process_ticks, last.process_ticks),
        thread_pct: match (first.thread_ticks, last.thread_ticks) {
            (Some(from), Some(to)) => percent(from, to),
            _ => None,
        },
    }
}

/// A `/proc/.../stat` line's name and user + system ticks. The name sits in
/// parentheses and may hold spaces and parentheses itself, so fields are
/// counted from the last `)`: utime is field 14, stime 15.
fn parse_stat(line: &str) -> Option<(&str, u64)> {
    let name = line.get(line.find('(')? + 1..line.rfind(')')?)?;
    let mut fields = line
        .get(line.rfind(')')? + 1..)?
        .split_whitespace()
        .skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((name, user + system))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_the_name_and_cpu_ticks() {
        let line = "4242 (loadbot (x) 1) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0 12345 0 0";
        assert_eq!(parse_stat(line), Some(("loadbot (x) 1", 300)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_named_thread_is_sampled_and_the_process_too() {
        let (started, stop) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        let worker = std::thread::Builder::new()
            .name("cpu-test-spin".into())
            .spawn(move || {
                let _ = started.0.send(());
                let _ = stop.1.recv();
            })
            .expect("spawns");
        started.1.recv().expect("started");
        let first = sample("cpu-test-spin").expect("/proc/self/stat");
        let last = sample("cpu-test-spin").expect("/proc/self/stat");
        let used = between(first, last);
        assert!(used.thread_pct.is_some(), "{used:?}");
        assert!(used.process_pct.is_some_and(|percent| percent >= 0.0));
        let _ = stop.0.send(());
        worker.join().expect("joins");
    }
}
