//! What the benches read about this process and machine: CPU time, peak memory (Linux /proc),
//! and the one-line description of the machine every report starts with.

use std::path::{Path, PathBuf};
use std::time::Instant;

/// Wall time since `t`, ms.
pub fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// CPU time of the calling thread, ms.
pub fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // Safety: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}

/// Runs `f`; returns its wall time (s), process CPU time (s), peak resident memory (kB) and result.
pub fn measured<T>(f: impl FnOnce() -> T) -> (f64, f64, u64, T) {
    // Writing 5 to clear_refs resets VmHWM to the current resident size (Linux >= 4.0).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let cpu = cpu_s();
    let t = Instant::now();
    let value = f();
    (ms(t) / 1000.0, cpu_s() - cpu, peak_kb(), value)
}

/// VmHWM of this process, kB.
fn peak_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    kb_field(&status, "VmHWM:").unwrap_or(0)
}

/// User + system CPU time of this process, s (from /proc/self/stat, 100 ticks per second).
pub fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A `Name:   1234 kB` line of a /proc file, kB.
fn kb_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The workspace's root directory (where tests/fixture-plugins and .git are).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

/// Date, build, CPU, cores, memory, kernel and load average, on one line.
pub fn machine_info() -> String {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown CPU", |v| v.trim_start_matches([' ', '\t', ':']));
    let mem_gb = kb_field(&read("/proc/meminfo"), "MemTotal:")
        .map_or("?".to_string(), |kb| format!("{:.0}", kb as f64 / 1024.0 / 1024.0));
    let load = read("/proc/loadavg");
    let load = load.split_whitespace().take(3).collect::<Vec<_>>().join(" ");
    let commit = std::process::Command::new("git")
        .arg("-C")
        .arg(workspace_root())
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_string(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    format!(
        "Recorded {} with profcmp {} at commit {commit} ({} build) on {cpu}, {} cores, {mem_gb} GB RAM, Linux {}; \
         load average at start {load} (the machine is shared).",
        profcmp_core::clock::utc_minutes(profcmp_core::clock::now_ms().div_euclid(1000)),
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) { "debug" } else { "release" },
        cores(),
        read("/proc/sys/kernel/osrelease").trim()
    )
}

/// Cores this process may use (what the optimize stage's thread pool uses too).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_kb_fields_and_this_process_uses_memory() {
        let text = "Name:\tprofcmp\nVmHWM:\t   2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(kb_field(text, "VmHWM:"), Some(2048));
        assert_eq!(kb_field(text, "VmSwap:"), None);
        // A run that allocates and touches 64 MB has a peak at least that much above nothing.
        let (_, _, peak, len) = measured(|| vec![1u8; 64 << 20].iter().map(|&b| usize::from(b)).sum::<usize>());
        assert_eq!(len, 64 << 20);
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(peak >= 64 * 1024, "peak {peak} kB");
        }
    }
}
