//! What the harness asks of the operating system: a file-descriptor limit high enough for the
//! sockets a scenario opens ([`raise_fd_limit`]), a process's resident memory (`VmRSS` in
//! `/proc/PID/status`, [`vm_rss_kib`]) and its lifetime peak (`VmHWM`, [`vm_hwm_kib`]), a
//! process's CPU time (`utime + stime` in `/proc/PID/stat`, [`cpu_secs`]), the whole machine's
//! busy CPU time (`/proc/stat`, [`machine_busy_secs`], to see what else ran beside a load test),
//! and the pid of the process listening on a local TCP port ([`find_listener_pid`], from
//! `/proc/net/tcp{,6}` and `/proc/*/fd`). Linux only; elsewhere the readings are absent rather
//! than wrong.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, bail};
use rlimit::Resource;

/// Descriptors kept free for everything that is not a load-test socket.
const FD_HEADROOM: u64 = 256;

/// Raises this process's RLIMIT_NOFILE so that `sockets` more descriptors fit: the soft limit up
/// to the hard one, and past it when the process may (root). Returns the soft limit now in force,
/// or an error that says how many sockets are possible and how to allow more.
pub fn raise_fd_limit(sockets: u64) -> anyhow::Result<u64> {
    let wanted = sockets.saturating_add(FD_HEADROOM);
    let (soft, hard) = rlimit::getrlimit(Resource::NOFILE).context("reading RLIMIT_NOFILE")?;
    if soft >= wanted {
        return Ok(soft);
    }
    // Raising the hard limit needs CAP_SYS_RESOURCE; without it, settle for the hard limit.
    let raised = rlimit::setrlimit(Resource::NOFILE, wanted, hard.max(wanted))
        .or_else(|_| rlimit::setrlimit(Resource::NOFILE, hard, hard));
    raised.context("raising RLIMIT_NOFILE")?;
    let (soft, _) = rlimit::getrlimit(Resource::NOFILE).context("reading RLIMIT_NOFILE")?;
    if soft < wanted {
        bail!(
            "{sockets} sockets need a file-descriptor limit of at least {wanted}, but this \
             process may only have {soft}; raise it (ulimit -n) or open fewer sockets"
        );
    }
    Ok(soft)
}

/// The resident set size of `pid` in KiB, from `/proc/PID/status`.
pub fn vm_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_vm_rss_kib(&status).with_context(|| format!("no VmRSS line in {path}"))
}

/// The peak resident set size of `pid` over its whole life in KiB (`VmHWM` in
/// `/proc/PID/status`).
pub fn vm_hwm_kib(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_status_kib(&status, "VmHWM:").with_context(|| format!("no VmHWM line in {path}"))
}

fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    parse_status_kib(status, "VmRSS:")
}

/// The KiB figure of the `/proc/PID/status` line starting with `field`.
fn parse_status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with(field))?;
    line.trim_start_matches(field)
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, 100 on every Linux ABI).
const USER_HZ: f64 = 100.0;

/// The CPU time `pid` has used so far (user + system, all threads), in seconds, from
/// `/proc/PID/stat` (`self` for this process: pass [`std::process::id`]).
pub fn cpu_secs(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| ticks as f64 / USER_HZ)
        .with_context(|| format!("no utime/stime in {path}"))
}

/// CPU time the whole machine has been busy so far, in seconds summed over its CPUs: user,
/// nice, system, irq, softirq and steal of the `cpu` line of `/proc/stat` (guest time is
/// already inside user).
pub fn machine_busy_secs() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    parse_machine_busy_ticks(&stat)
        .map(|ticks| ticks as f64 / USER_HZ)
        .context("no cpu line in /proc/stat")
}

fn parse_machine_busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|line| line.starts_with("cpu "))?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal ...
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&index| ticks.get(index));
    (ticks.len() >= 4).then(|| busy.sum())
}

/// `utime + stime` in ticks: fields 14 and 15 of the stat line, counted after the command
/// name's closing parenthesis (the name itself may hold spaces and parentheses).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // After the name: field 3 (state) is the first; utime is field 14, stime field 15.
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The pid of a process listening on TCP `port` (any local address), if one can be found.
pub fn find_listener_pid(port: u16) -> anyhow::Result<Option<u32>> {
    let mut inodes = HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        match std::fs::read_to_string(table) {
            Ok(text) => inodes.extend(listening_inodes(&text, port)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error).with_context(|| format!("cannot read {table}")),
        }
    }
    if inodes.is_empty() {
        return Ok(None);
    }
    let wanted: HashSet<String> = inodes
        .iter()
        .map(|inode| format!("socket:[{inode}]"))
        .collect();
    let processes = std::fs::read_dir("/proc").context("cannot list /proc")?;
    for entry in processes.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        if owns_socket(&entry.path().join("fd"), &wanted) {
            return Ok(Some(pid));
        }
    }
    Ok(None)
}

/// Inodes of sockets in LISTEN state (`0A`) on `port` in one `/proc/net/tcp*` table.
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let state = fields.get(3)?;
            let inode = fields.get(9)?;
            let (_, port_hex) = local.rsplit_once(':')?;
            let local_port = u16::from_str_radix(port_hex, 16).ok()?;
            (local_port == port && *state == "0A")
                .then(|| inode.parse().ok())
                .flatten()
        })
        .collect()
}

/// True when one of the process's descriptors (in `fd_dir`) is one of the `wanted` sockets.
/// Processes we may not inspect are skipped.
fn owns_socket(fd_dir: &Path, wanted: &HashSet<String>) -> bool {
    let Ok(descriptors) = std::fs::read_dir(fd_dir) else {
        return false;
    };
    descriptors.flatten().any(|descriptor| {
        std::fs::read_link(descriptor.path())
            .ok()
            .and_then(|link| link.to_str().map(|text| wanted.contains(text)))
            .unwrap_or(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_from_status_text() {
        let status = "Name:\tclasshub\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss_kib(status), Some(12345));
        assert_eq!(parse_vm_rss_kib("Name:\tx\n"), None);
        let with_peak = "VmHWM:\t  20480 kB\nVmRSS:\t   12345 kB\n";
        assert_eq!(parse_status_kib(with_peak, "VmHWM:"), Some(20480));
    }

    #[test]
    fn cpu_ticks_are_read_from_stat_text() {
        let stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 \
                    9 0 100 1000000 500 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1"), None);
        assert!(cpu_secs(std::process::id()).is_ok());
    }

    #[test]
    fn machine_busy_ticks_leave_idle_and_iowait_out() {
        let stat = "cpu  100 5 50 9000 40 3 2 1 0 0\ncpu0 50 2 25 4500 20 1 1 0 0 0\n";
        assert_eq!(parse_machine_busy_ticks(stat), Some(161));
        assert_eq!(parse_machine_busy_ticks("intr 1 2 3\n"), None);
        assert!(machine_busy_secs().is_ok());
    }

    #[test]
    fn listening_sockets_are_found_by_port() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:1F49 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n\
   1: 0100007F:1F49 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0 20 4 30 10 -1\n\
   2: 0100007F:1F4A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0 100 0 0 10 0\n";
        assert_eq!(listening_inodes(table, 8009), vec![4242]);
        assert_eq!(listening_inodes(table, 8010), vec![4444]);
        assert!(listening_inodes(table, 1).is_empty());
    }

    #[test]
    fn this_process_is_found_listening() -> anyhow::Result<()> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        assert_eq!(find_listener_pid(port)?, Some(std::process::id()));
        assert!(vm_rss_kib(std::process::id())? > 0);
        Ok(())
    }
}
