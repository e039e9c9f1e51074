//! Rate steps: offer a rate, let it settle, measure a window, judge it against the latency
//! bounds, go up until a step fails. The last passing step is the sustained rate.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::stats::{Recorder, Stopwatch, Window};

/// Where results go: one JSON object per line, appended, plus a readable line on stderr.
pub struct Output {
    pub path: Option<std::path::PathBuf>,
    /// `parley` or `baseline`: which server this run measured.
    pub server: String,
    pub scenario: String,
    /// When this generator started (Unix seconds): tells one run's records from another's.
    pub started_at: u64,
}

impl Output {
    pub fn write(&self, mut record: Value) -> anyhow::Result<()> {
        if let Some(fields) = record.as_object_mut() {
            fields.insert("server".into(), json!(self.server));
            fields.insert("scenario".into(), json!(self.scenario));
            fields.insert("startedAt".into(), json!(self.started_at));
        }
        eprintln!("{record}");
        if let Some(path) = &self.path {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            writeln!(file, "{record}")?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
pub struct Bounds {
    pub ack_p99_ms: f64,
    pub delivery_p99_ms: f64,
}

pub const MESSAGE_BOUNDS: Bounds = Bounds {
    ack_p99_ms: 50.0,
    delivery_p99_ms: 100.0,
};

pub struct Schedule {
    pub rates: Vec<f64>,
    pub warmup: Duration,
    pub measure: Duration,
}

/// One measured step, as written to the results.
pub fn step_record(
    rate: f64,
    seconds: f64,
    window: &Window,
    recipients: f64,
    generator_cpu: f64,
    bounds: Bounds,
) -> (Value, bool) {
    let achieved = window.acked_ok as f64 / seconds;
    let expected_deliveries = window.acked_ok as f64 * recipients;
    let delivered_share = if expected_deliveries > 0.0 {
        window.deliveries as f64 / expected_deliveries
    } else {
        1.0
    };
    let ack_p99 = window.ack.quantile_ms(0.99);
    let delivery_p99 = window.delivery.quantile_ms(0.99);
    let passed = window.acked_error == 0
        && window.acked_ok as f64 >= least_acked(rate * seconds)
        && ack_p99 <= bounds.ack_p99_ms
        && (recipients == 0.0
            || (delivery_p99 <= bounds.delivery_p99_ms && delivered_share >= 0.99));
    let record = json!({
        "kind": "step",
        "offered": rate,
        "achieved": (achieved * 100.0).round() / 100.0,
        "ackP50Ms": window.ack.quantile_ms(0.5),
        "ackP99Ms": ack_p99,
        "deliveryP50Ms": window.delivery.quantile_ms(0.5),
        "deliveryP99Ms": delivery_p99,
        "deliveriesPerSec": round(window.deliveries as f64 / seconds),
        "deliveredShare": round(delivered_share * 1000.0) / 1000.0,
        "errors": window.acked_error,
        "eventsReceivedPerSec": round(window.frames as f64 / seconds),
        "generatorCpu": round(generator_cpu * 100.0) / 100.0,
        "passed": passed,
    });
    (record, passed)
}

/// The fewest acks a step may bring back out of `expected` sends and still pass: 95%, or
/// three standard deviations below the mean where that is lower. The sends are a Poisson
/// process, so at a few messages a second (a big room: 600 in a 60 s window) the count alone
/// varies by more than 5% from run to run.
fn least_acked(expected: f64) -> f64 {
    (expected * 0.95).min(expected - 3.0 * expected.sqrt())
}

fn round(x: f64) -> f64 {
    x.round()
}

/// Runs the schedule: `per_user` turns a total rate into each sender's rate. Stops after two
/// failing steps in a row, and reports the highest rate that passed before them (`recipients`: deliveries each acked request should cause); returns the highest passing rate (0 if none passed).
pub async fn run(
    schedule: &Schedule,
    rate: &watch::Sender<f64>,
    per_user: impl Fn(f64) -> f64,
    recorder: &Arc<Recorder>,
    recipients: f64,
    bounds: Bounds,
    out: &Output,
) -> anyhow::Result<f64> {
    let mut sustained: f64 = 0.0;
    let mut best: Option<Value> = None;
    let mut failures_in_a_row = 0;
    for &offered in &schedule.rates {
        rate.send_replace(per_user(offered));
        tokio::time::sleep(schedule.warmup).await;
        let watch = Stopwatch::start();
        recorder.start();
        tokio::time::sleep(schedule.measure).await;
        let window = recorder.stop();
        let (seconds, cpu) = watch.read();
        let (record, passed) = step_record(offered, seconds, &window, recipients, cpu, bounds);
        out.write(record.clone())?;
        if window.acked_ok == 0 {
            anyhow::bail!("nothing was acknowledged at {offered}/s: the server does not work");
        }
        if passed {
            failures_in_a_row = 0;
            sustained = offered;
            best = Some(record);
        } else {
            // One failing step can be noise (a p99 of a few hundred samples is nearly the
            // maximum); two in a row end the schedule.
            failures_in_a_row += 1;
            if failures_in_a_row == 2 {
                break;
            }
        }
    }
    rate.send_replace(0.0);
    out.write(json!({ "kind": "summary", "sustained": sustained, "atSustained": best }))?;
    Ok(sustained)
}

#[cfg(test)]
mod tests {
    use super::least_acked;

    #[test]
    fn few_sends_may_fall_short_by_poisson_noise_many_by_five_percent() {
        assert_eq!(least_acked(10_000.0), 9_500.0);
        let at_600 = least_acked(600.0);
        assert!((526.0..527.0).contains(&at_600), "{at_600}");
        assert!(557.0 >= at_600 && 500.0 < at_600);
    }
}
