//! What one measurement window saw: counters and latency histograms, shared by every
//! connection task of the (single-threaded) generator.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Latencies in 50 µs buckets up to 10 s; slower values land in the last bucket.
const BUCKET_MICROS: u64 = 50;
const BUCKETS: usize = 200_000;

#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u32>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS + 1],
            total: 0,
        }
    }
}

impl Histogram {
    pub fn record(&mut self, latency: Duration) {
        let bucket = (latency.as_micros() as u64 / BUCKET_MICROS).min(BUCKETS as u64) as usize;
        if let Some(count) = self.counts.get_mut(bucket) {
            *count += 1;
            self.total += 1;
        }
    }

    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The latency below which `quantile` of the values fall, in milliseconds (upper bucket
    /// bound, so never optimistic); 0 when empty.
    pub fn quantile_ms(&self, quantile: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((self.total as f64) * quantile).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += u64::from(*count);
            if seen >= rank {
                // The last bucket holds everything slower: report its lower edge, 10 s.
                let edge = (bucket as u64 + 1).min(BUCKETS as u64);
                return (edge * BUCKET_MICROS) as f64 / 1000.0;
            }
        }
        (BUCKETS as u64 * BUCKET_MICROS) as f64 / 1000.0
    }
}

/// Counters and histograms of one window.
#[derive(Default, Clone)]
pub struct Window {
    pub sent: u64,
    pub acked_ok: u64,
    pub acked_error: u64,
    /// Every event frame received (deliveries, acks and anything else).
    pub frames: u64,
    pub deliveries: u64,
    pub ack: Histogram,
    pub delivery: Histogram,
}

/// The live window; connection tasks record into it only while `recording` is set.
pub struct Recorder {
    window: Mutex<Window>,
    recording: std::sync::atomic::AtomicBool,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            window: Mutex::new(Window::default()),
            recording: false.into(),
        }
    }
}

impl Recorder {
    pub fn is_recording(&self) -> bool {
        self.recording.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `f` on the window if a window is open.
    pub fn with(&self, f: impl FnOnce(&mut Window)) {
        if self.is_recording()
            && let Ok(mut window) = self.window.lock()
        {
            f(&mut window);
        }
    }

    /// Clears the window and starts recording.
    pub fn start(&self) {
        if let Ok(mut window) = self.window.lock() {
            *window = Window::default();
        }
        self.recording
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Deliveries counted so far in the open window.
    pub fn deliveries_so_far(&self) -> u64 {
        self.window.lock().map(|w| w.deliveries).unwrap_or(0)
    }

    /// Stops recording and returns what the window saw.
    pub fn stop(&self) -> Window {
        self.recording
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.window.lock().map(|w| w.clone()).unwrap_or_default()
    }
}

/// CPU time this process has used (user + system), from /proc; zero where unreadable.
pub fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let Some((_, after_name)) = stat.rsplit_once(')') else {
        return Duration::ZERO;
    };
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    // The kernel reports in USER_HZ, 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Wall and CPU time together, to tell how busy the generator itself was.
pub struct Stopwatch {
    wall: Instant,
    cpu: Duration,
}

impl Stopwatch {
    pub fn start() -> Self {
        Self {
            wall: Instant::now(),
            cpu: cpu_time(),
        }
    }

    /// (wall seconds, share of one core the generator used).
    pub fn read(&self) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = cpu_time().saturating_sub(self.cpu).as_secs_f64();
        (wall, if wall > 0.0 { cpu / wall } else { 0.0 })
    }
}

/// Resident memory of a process in KiB, from /proc; None if it is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_round_up_to_the_bucket() {
        let mut h = Histogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.count(), 100);
        assert_eq!(h.quantile_ms(0.5), 50.05);
        assert_eq!(h.quantile_ms(0.99), 99.05);
        h.record(Duration::from_secs(60));
        assert_eq!(h.quantile_ms(1.0), 10_000.0);
    }
}
