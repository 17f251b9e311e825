//! A task's steps and their outcomes, so a long run ends with one summary saying what failed.

use std::{
    fmt::Write as _,
    time::{Duration, Instant},
};

/// How one step ended.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

#[derive(Debug)]
struct Record {
    name: &'static str,
    outcome: Outcome,
    took: Duration,
}

/// The steps of one task, in the order they ran.
#[derive(Debug, Default)]
pub(crate) struct Steps {
    records: Vec<Record>,
}

impl Steps {
    /// Runs one step, announcing it first and recording how it ended.
    ///
    /// Returns what the step produced, or `None` when it failed, so later steps can depend on it.
    pub(crate) fn run<T>(
        &mut self,
        name: &'static str,
        step: impl FnOnce() -> Result<T, String>,
    ) -> Option<T> {
        println!("\n==> {name}");
        let started = Instant::now();
        let result = step();
        let took = started.elapsed();

        match result {
            Ok(value) => {
                println!("--> {name}: ok ({})", format_duration(took));
                self.records.push(Record { name, outcome: Outcome::Passed, took });
                Some(value)
            }
            Err(message) => {
                println!("--> {name}: FAILED: {message}");
                self.records.push(Record { name, outcome: Outcome::Failed(message), took });
                None
            }
        }
    }

    /// Records a step that could not run because one it needs failed.
    pub(crate) fn skip(&mut self, name: &'static str, needs: &str) {
        let reason = format!("not run: needs {needs}");
        println!("\n==> {name}: {reason}");
        self.records.push(Record { name, outcome: Outcome::Skipped(reason), took: Duration::ZERO });
    }

    /// The names of the steps that failed or did not run.
    pub(crate) fn unsuccessful(&self) -> Vec<&'static str> {
        self.records
            .iter()
            .filter(|record| record.outcome != Outcome::Passed)
            .map(|record| record.name)
            .collect()
    }

    /// A table of every step, its outcome and its duration.
    pub(crate) fn summary(&self) -> String {
        let width = self.records.iter().map(|record| record.name.len()).max().unwrap_or(0);
        let mut text = String::new();
        for record in &self.records {
            let (label, detail) = match &record.outcome {
                Outcome::Passed => ("ok", ""),
                Outcome::Failed(message) => ("FAILED", message.as_str()),
                Outcome::Skipped(reason) => ("skipped", reason.as_str()),
            };
            let took = format_duration(record.took);
            let line = format!("  {label:<8} {:<width$}  {took:>7}  {detail}", record.name);
            let _ = writeln!(text, "{}", line.trim_end());
        }
        text
    }
}

/// A duration as people read it: "850ms", "12.3s" or "4m05s".
pub(crate) fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1_000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        format!("{}.{}s", millis / 1_000, millis % 1_000 / 100)
    } else {
        let seconds = millis / 1_000;
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Steps, format_duration};

    #[test]
    fn durations_read_in_the_largest_sensible_unit() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_millis(12_345)), "12.3s");
        assert_eq!(format_duration(Duration::from_secs(245)), "4m05s");
    }

    #[test]
    fn failed_and_skipped_steps_are_unsuccessful() {
        let mut steps = Steps::default();
        assert_eq!(steps.run("first", || Ok(1)), Some(1));
        assert_eq!(steps.run("second", || Err::<(), _>("broken".to_owned())), None);
        steps.skip("third", "second");

        assert_eq!(steps.unsuccessful(), ["second", "third"]);
        let summary = steps.summary();
        assert!(summary.contains("FAILED   second"), "{summary}");
        assert!(summary.contains("broken"), "{summary}");
        assert!(summary.contains("skipped  third"), "{summary}");
    }
}
