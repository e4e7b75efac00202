//! `/metrics` shows what the server costs: the standard process metrics (CPU
//! seconds, resident memory, start time, open descriptors) and CPU per thread
//! role, read from `/proc/self` on Linux, with plausible values.

mod common;
#[path = "common/raw_http.rs"]
mod raw_http;

use common::{remove_database, start_server_on, temporary_database};
use raw_http::get;

/// The value of the series `name` (with its labels), if present.
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
}

#[cfg(target_os = "linux")]
#[test]
fn metrics_carry_process_cpu_memory_and_cpu_per_thread_role() {
    let database = temporary_database();
    let (server, http_address) = start_server_on(&database);
    let metrics = get(http_address, "/metrics", &[]);
    assert_eq!(metrics.status, 200);
    let body = &metrics.body;
    let cpu = value(body, "process_cpu_seconds_total").expect("process CPU");
    assert!(cpu > 0.0, "the server did some work starting: {cpu}");
    let resident = value(body, "process_resident_memory_bytes").expect("resident memory");
    assert!(resident > 0.0, "{resident}");
    let start = value(body, "process_start_time_seconds").expect("start time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    assert!(
        start > now - 3_600.0 && start <= now + 1.0,
        "started within the hour: {start} vs now {now}"
    );
    let fds = value(body, "process_open_fds").expect("open descriptors");
    assert!(fds >= 3.0, "{fds}");
    let mut roles_total = 0.0;
    for role in ["zone", "io", "db", "http", "link", "other"] {
        let seconds = value(
            body,
            &format!("meridian_thread_cpu_seconds_total{{role=\"{role}\"}}"),
        )
        .unwrap_or_else(|| panic!("role {role} is shown:\n{body}"));
        assert!(seconds >= 0.0, "{role}: {seconds}");
        roles_total += seconds;
    }
    // Live threads only: about the process's own total at most (ended threads
    // count in the process's figure alone; the threads are read a moment
    // after the process, so a few ticks more).
    assert!(roles_total <= cpu + 0.5, "{roles_total} > {cpu}");
    drop(server);
    remove_database(&database);
}
