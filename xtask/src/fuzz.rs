//! `cargo xtask fuzz`: runs each cargo-fuzz target of the codec (`fuzz/`) for a given time.
//!
//! cargo-fuzz builds with sanitizer flags that only a nightly compiler accepts: a nightly
//! toolchain is used when rustup has one, else the stable one with `RUSTC_BOOTSTRAP=1`.

use std::process::Command;

use crate::{Repo, process};

/// Every fuzz target, in the order they run.
pub(crate) const TARGETS: [&str; 5] = ["header", "chunk", "object", "stream", "range"];

/// Seconds per target when `--seconds` is not given.
const DEFAULT_SECONDS: u64 = 60;

/// Runs the chosen targets (all by default) for `--seconds` each, growing `fuzz/corpus/`.
pub(crate) fn run(repo: &Repo, args: &[String]) -> Result<(), String> {
    let (seconds, targets) = parse(args)?;
    let nightly = has_nightly();
    let dir = repo.root().join("fuzz");
    for target in &targets {
        println!("\n== fuzz {target} for {seconds} s");
        let mut command = Command::new("cargo");
        if nightly {
            command.arg("+nightly");
        } else {
            command.env("RUSTC_BOOTSTRAP", "1");
        }
        command
            .current_dir(&dir)
            .args(["fuzz", "run", target, "--"])
            .arg(format!("-max_total_time={seconds}"))
            .arg("-rss_limit_mb=2048")
            .arg("-print_final_stats=1");
        process::run(&mut command).map_err(|error| {
            format!("{error} (is cargo-fuzz installed? `cargo install cargo-fuzz`)")
        })?;
    }
    println!("\nxtask fuzz: ok ({} targets, {seconds} s each)", targets.len());
    Ok(())
}

/// Reads `[--seconds N] [target ...]`.
fn parse(args: &[String]) -> Result<(u64, Vec<&'static str>), String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut targets = Vec::new();
    let mut rest = args.iter();
    while let Some(argument) = rest.next() {
        if argument == "--seconds" {
            let value = rest.next().ok_or("`--seconds` needs a number")?;
            seconds = value
                .parse()
                .ok()
                .filter(|seconds| *seconds > 0)
                .ok_or_else(|| format!("`--seconds` takes a positive number, got `{value}`"))?;
        } else if let Some(target) = TARGETS.iter().find(|target| *target == argument) {
            targets.push(*target);
        } else {
            return Err(format!(
                "unknown fuzz target `{argument}`; targets: {}",
                TARGETS.join(", ")
            ));
        }
    }
    if targets.is_empty() {
        targets.extend(TARGETS);
    }
    Ok((seconds, targets))
}

/// Whether rustup has a nightly toolchain.
fn has_nightly() -> bool {
    Command::new("rustup").args(["toolchain", "list"]).output().is_ok_and(|output| {
        String::from_utf8_lossy(&output.stdout).lines().any(|line| line.starts_with("nightly"))
    })
}

#[cfg(test)]
mod tests {
    use super::{DEFAULT_SECONDS, TARGETS, parse};

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn fuzz_arguments_pick_time_and_targets() {
        assert_eq!(parse(&[]), Ok((DEFAULT_SECONDS, TARGETS.to_vec())));
        assert_eq!(
            parse(&strings(&["--seconds", "600", "range", "chunk"])),
            Ok((600, vec!["range", "chunk"]))
        );
        assert!(parse(&strings(&["--seconds"])).is_err());
        assert!(parse(&strings(&["--seconds", "0"])).is_err());
        assert!(parse(&strings(&["nothing"])).is_err());
    }
}
