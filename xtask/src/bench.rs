//! `cargo xtask bench`: the side-by-side comparison on Garage, then the criterion benches.
//!
//! The comparison (`benches/compare/compare.py`) times s3kv, the original library's pipeline,
//! boto3, obstore and the AWS S3 Encryption Client against Garage and a local folder. It needs
//! an optimised extension and the packages of `requirements-bench.txt`, which `cargo xtask test`
//! never installs; this task installs them into the same virtualenv.

use crate::{
    Repo, process,
    server::{self, Choice},
    tasks::{self, Profile},
    venv::{self, Venv},
};

/// The comparison's peers and plotting library, installed only by this task.
const REQUIREMENTS: &str = "requirements-bench.txt";

const COMPARE_SCRIPT: &str = "benches/compare/compare.py";

/// Where a full run publishes its plot; a quick run keeps its plot in the target folder.
const PUBLISHED_PLOT: &str = "docs/benchmarks-compare.png";

/// What `cargo xtask bench` was asked to do.
#[derive(Debug, PartialEq, Eq)]
struct Options<'a> {
    /// Small sizes and no criterion run: a smoke run of the comparison.
    quick: bool,
    /// Arguments for criterion, given after `--`.
    criterion: &'a [String],
}

/// Reads `[--quick] [-- criterion arguments]`.
fn options(rest: &[String]) -> Result<Options<'_>, String> {
    let (quick, rest) = match rest.split_first() {
        Some((first, after)) if first == "--quick" => (true, after),
        _ => (false, rest),
    };
    let criterion = match rest.split_first() {
        None => &[][..],
        Some((first, after)) if first == "--" => after,
        Some((first, _)) => {
            return Err(format!(
                "`bench` takes `--quick`, then arguments for criterion after `--`; got `{first}`"
            ));
        }
    };
    if quick && !criterion.is_empty() {
        return Err("`--quick` skips criterion, so it takes no criterion arguments".to_owned());
    }
    Ok(Options { quick, criterion })
}

/// `cargo xtask bench`: build in release mode, start Garage and moto, run both benchmarks.
///
/// Both run even when the first fails, so one run reports everything it could measure.
///
/// # Errors
///
/// The arguments are malformed, a server or the build fails, or a benchmark fails.
pub(crate) fn run(repo: &Repo, rest: &[String]) -> Result<(), String> {
    let options = options(rest)?;
    let venv = venv::ensure(repo)?;
    install_requirements(repo, &venv)?;
    tasks::build_extension(repo, &venv, Profile::Release)?;

    // Garage holds the data; moto serves KMS to the encryption client, never the data.
    let garage = server::start_garage(repo)?;
    let moto = server::start(repo, Choice::Moto, &venv)?;

    // The comparison runs first: it is what the servers were started for, and its figures
    // should not wait on criterion, whose run takes several minutes.
    let mut command = venv.command("python");
    command.current_dir(repo.root()).arg(COMPARE_SCRIPT).args(["--backends", "garage,fs"]);
    if options.quick {
        command.arg("--quick");
    } else {
        command.arg("--plot").arg(repo.root().join(PUBLISHED_PLOT));
    }
    moto.settings().apply(&mut command);
    garage.settings().apply_garage(&mut command);
    let compared = process::run(&mut command);

    let criterion = if options.quick {
        println!("--quick: criterion benches skipped");
        Ok(())
    } else {
        let mut command = process::cargo(repo);
        command.args(["bench", "-p", "s3kv-benches"]);
        // The store bench measures against the same Garage.
        garage.settings().apply_garage(&mut command);
        if !options.criterion.is_empty() {
            command.arg("--").args(options.criterion);
        }
        process::run(&mut command)
    };

    drop(moto);
    drop(garage);
    match (compared, criterion) {
        (Ok(()), Ok(())) => {
            println!(
                "xtask bench: done; the comparison's report is target/bench-compare/results.md"
            );
            Ok(())
        }
        (Err(error), Ok(())) | (Ok(()), Err(error)) => Err(error),
        (Err(compare), Err(criterion)) => Err(format!("{compare}; {criterion}")),
    }
}

/// Installs the comparison's packages; pip returns at once when they are already there.
fn install_requirements(repo: &Repo, venv: &Venv) -> Result<(), String> {
    let mut pip = venv.command("python");
    pip.current_dir(repo.root())
        .args(["-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"])
        .args(["-r", REQUIREMENTS]);
    process::run(&mut pip)
}

#[cfg(test)]
mod tests {
    use super::{Options, options};

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn no_arguments_run_everything() {
        assert_eq!(options(&[]), Ok(Options { quick: false, criterion: &[] }));
    }

    #[test]
    fn arguments_after_separator_go_to_criterion() {
        let args = strings(&["--", "--sample-size", "10"]);
        assert_eq!(options(&args), Ok(Options { quick: false, criterion: &args[1..] }));
    }

    #[test]
    fn quick_refuses_criterion_arguments() {
        assert_eq!(options(&strings(&["--quick"])), Ok(Options { quick: true, criterion: &[] }));
        assert!(options(&strings(&["--quick", "--", "codec"])).is_err());
    }

    #[test]
    fn unknown_option_is_refused() {
        let error = options(&strings(&["--fast"])).expect_err("--fast is no option");
        assert!(error.contains("--fast"), "{error}");
    }
}
