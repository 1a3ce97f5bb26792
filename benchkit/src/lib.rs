//! The timing harness of PlateRestore's `cargo bench` targets.
//!
//! Benches here are throughput measurements of whole-frame operations (tens of milliseconds
//! to seconds per call), reported as a median with its spread and, where a group declares
//! what one call moves, a rate. What the figures in `BENCHMARKS.md` rest on are the ratios the
//! benches print themselves (an op against a copy of the same frame, run alternately in one
//! process); this harness times the individual cases around them. It has no dependencies, so
//! building the test suite does not build a statistics package for benches it never runs.
//!
//! Command line (after `cargo bench --bench NAME --`): a word selects the cases whose
//! `group/name` contains it (`a|b`: either); `--list` prints the names without running them. Cargo's own
//! `--bench` flag is accepted and ignored.

use std::fmt::{self, Display};
use std::time::{Duration, Instant};

pub use std::hint::black_box;

/// What one call of a case processes, to report a rate beside the time.
#[derive(Debug, Clone, Copy)]
pub enum Throughput {
    /// Bytes read and written per call (reported in GB/s).
    Bytes(u64),
    /// Items (pixels, frames) per call (reported in millions per second).
    Elements(u64),
}

/// The name of a case made of a function and its parameter: `function/parameter`.
#[derive(Debug, Clone)]
pub struct BenchId(String);

impl BenchId {
    pub fn new(function: impl Display, parameter: impl Display) -> BenchId {
        BenchId(format!("{function}/{parameter}"))
    }
}

impl Display for BenchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The run's settings, read from the command line.
#[derive(Debug, Clone, Default)]
pub struct Harness {
    filter: Option<String>,
    list: bool,
}

impl Harness {
    /// Settings from this process's arguments (see the crate's documentation).
    pub fn from_args() -> Harness {
        let mut harness = Harness::default();
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--list" => harness.list = true,
                a if a.starts_with('-') => {} // --bench, and the benches' own flags
                a => harness.filter = Some(a.to_string()),
            }
        }
        harness
    }

    /// A group of cases sharing sampling settings and a throughput.
    pub fn group(&mut self, name: impl Into<String>) -> Group<'_> {
        Group {
            harness: self,
            name: name.into(),
            throughput: None,
            samples: 20,
            time_budget: Duration::from_secs(5),
        }
    }

    fn selects(&self, full_name: &str) -> bool {
        self.filter
            .as_deref()
            .is_none_or(|f| f.split('|').any(|word| full_name.contains(word)))
    }
}

/// Cases timed with the same settings.
pub struct Group<'a> {
    harness: &'a Harness,
    name: String,
    throughput: Option<Throughput>,
    samples: usize,
    time_budget: Duration,
}

impl Group<'_> {
    /// Calls to time per case (at least 3; fewer if the time budget runs out first).
    pub fn sample_size(&mut self, samples: usize) -> &mut Self {
        self.samples = samples.max(3);
        self
    }

    /// Stop sampling a case once this much time was spent on it (after 3 calls at least).
    pub fn measurement_time(&mut self, budget: Duration) -> &mut Self {
        self.time_budget = budget;
        self
    }

    /// What one call of the following cases processes.
    pub fn throughput(&mut self, throughput: Throughput) -> &mut Self {
        self.throughput = Some(throughput);
        self
    }

    /// Times `routine`, which must call [`Bencher::iter`] once.
    pub fn bench_function(&mut self, id: impl Display, mut routine: impl FnMut(&mut Bencher)) {
        let name = format!("{}/{id}", self.name);
        if !self.harness.selects(&name) {
            return;
        }
        if self.harness.list {
            println!("{name}");
            return;
        }
        let mut bencher = Bencher {
            samples: self.samples,
            time_budget: self.time_budget,
            times: Vec::new(),
        };
        routine(&mut bencher);
        println!("{}", report(&name, &bencher.times, self.throughput));
    }

    /// [`Self::bench_function`] with an input passed to the routine.
    pub fn bench_with_input<I: ?Sized>(
        &mut self,
        id: impl Display,
        input: &I,
        mut routine: impl FnMut(&mut Bencher, &I),
    ) {
        self.bench_function(id, |b| routine(b, input));
    }

    /// Ends the group (kept for symmetry; nothing is pending).
    pub fn finish(self) {}
}

/// Runs one case's calls.
pub struct Bencher {
    samples: usize,
    time_budget: Duration,
    times: Vec<Duration>,
}

impl Bencher {
    /// One untimed warm-up call, then timed calls until the sample count or the time budget
    /// is reached (3 calls at least). The result of every call goes through [`black_box`].
    pub fn iter<R>(&mut self, mut routine: impl FnMut() -> R) {
        black_box(routine());
        let start = Instant::now();
        self.times.clear();
        while self.times.len() < self.samples
            && (self.times.len() < 3 || start.elapsed() < self.time_budget)
        {
            let t = Instant::now();
            black_box(routine());
            self.times.push(t.elapsed());
        }
    }
}

/// The line printed for a case: median, fastest and slowest call, calls, and the rate at the
/// median.
fn report(name: &str, times: &[Duration], throughput: Option<Throughput>) -> String {
    if times.is_empty() {
        return format!("{name:<48} (the routine never called Bencher::iter)");
    }
    let mut ms: Vec<f64> = times.iter().map(|t| t.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    let rate = match throughput {
        Some(Throughput::Bytes(b)) => format!("  {:7.2} GB/s", b as f64 / median / 1e6),
        Some(Throughput::Elements(n)) => format!("  {:7.2} M/s", n as f64 / median / 1e3),
        None => String::new(),
    };
    format!(
        "{name:<48} {median:9.3} ms  [{:.3} – {:.3}] n={}{rate}",
        ms[0],
        ms[ms.len() - 1],
        ms.len()
    )
}

/// Defines `fn $name()` that runs each bench function `fn(&mut Harness)` with the command
/// line's settings.
#[macro_export]
macro_rules! bench_group {
    ($name:ident, $($function:path),+ $(,)?) => {
        fn $name() {
            let mut harness = $crate::Harness::from_args();
            $($function(&mut harness);)+
        }
    };
}

/// Defines `main` running the groups made by [`bench_group!`].
#[macro_export]
macro_rules! bench_main {
    ($($group:path),+ $(,)?) => {
        fn main() {
            $($group();)+
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_gives_the_median_spread_and_rate() {
        let times = [30, 10, 20].map(Duration::from_millis);
        let line = report("g/case", &times, Some(Throughput::Bytes(2_000_000)));
        // Median 20 ms; 2 MB in 20 ms = 0.1 GB/s.
        assert!(line.contains("20.000 ms"), "{line}");
        assert!(line.contains("[10.000 – 30.000] n=3"), "{line}");
        assert!(line.contains("0.10 GB/s"), "{line}");
        let line = report("g/case", &times, Some(Throughput::Elements(4_000)));
        assert!(line.contains("0.20 M/s"), "{line}");
    }

    #[test]
    fn sampling_stops_at_the_count_or_the_budget() {
        let mut b = Bencher {
            samples: 7,
            time_budget: Duration::from_secs(60),
            times: Vec::new(),
        };
        let mut calls = 0;
        b.iter(|| calls += 1);
        assert_eq!(
            (b.times.len(), calls),
            (7, 8),
            "7 timed calls after one warm-up"
        );
        let mut b = Bencher {
            samples: 100,
            time_budget: Duration::ZERO,
            times: Vec::new(),
        };
        b.iter(|| std::thread::sleep(Duration::from_millis(1)));
        assert_eq!(
            b.times.len(),
            3,
            "at least three calls, then the budget stops it"
        );
    }

    #[test]
    fn the_filter_selects_by_substring() {
        let h = Harness {
            filter: Some("itm/".into()),
            list: false,
        };
        assert!(h.selects("itm_4k/itm/default_pq"));
        assert!(!h.selects("grain_4k/copy"));
        assert!(Harness::default().selects("anything"));
        let either = Harness {
            filter: Some("copy_|itm_".into()),
            list: false,
        };
        assert!(either.selects("copy_1080p/cpu") && either.selects("itm_1080p/cpu"));
        assert!(!either.selects("grain_uhd/cpu"));
    }
}
