//! The subcommands that run other programs: test, lint, demo and s3-server.

use std::{
    io::{BufRead, BufReader},
    net::{Ipv4Addr, TcpListener},
    process::{Command, Stdio},
};

use crate::{
    Repo, browser, process,
    server::{self, Choice, Server},
    steps::Steps,
    tidy,
    venv::{self, Venv},
};

/// The Python package's manifest; without it there is nothing to build or test in Python.
const PYPROJECT: &str = "crates/s3kv-py/pyproject.toml";
const EXTENSION_MANIFEST: &str = "crates/s3kv-py/Cargo.toml";
const PYTHON_TESTS: &str = "crates/s3kv-py/tests";

/// Names, for the Python tests, the interpreter of the virtualenv with Streamlit 1.36.
const OLD_STREAMLIT_VARIABLE: &str = "S3KV_STREAMLIT_1_36_PYTHON";

/// The demo app, run from its own directory so Streamlit finds `examples/.streamlit/`.
const DEMO_DIR: &str = "examples";
const DEMO_APP: &str = "demo_app.py";

/// Streamlit's usual port, used for the demo when it is free.
const STREAMLIT_PORT: u16 = 8501;

/// pytest's exit code when it collected no test.
const PYTEST_NO_TESTS: i32 = 5;

/// Whether the extension is built for tests or for people to try.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Profile {
    Dev,
    Release,
}

/// `cargo xtask test`: lint, then every test suite against an S3 server, then a summary.
///
/// Steps that do not depend on a failed one still run, so one run reports every failure.
///
/// # Errors
///
/// Any step failed or could not run; the message lists them.
pub(crate) fn test(repo: &Repo) -> Result<(), String> {
    let mut steps = Steps::default();
    lint_steps(repo, &mut steps);

    let venv = steps.run("venv", || venv::ensure(repo));
    let server = if let Some(venv) = &venv {
        steps.run("s3 server", || {
            let server = server::start(repo, Choice::from_environment()?, venv)?;
            print_settings(&server, false);
            Ok(server)
        })
    } else {
        steps.skip("s3 server", "venv");
        None
    };

    // Garage runs beside the main server: real signatures and key limits, and conditional
    // writes that it ignores, which the store must detect.
    let garage = steps.run("garage", || server::start_garage(repo));

    if let Some(server) = &server {
        steps.run("rust tests", || rust_tests(repo, server, garage.as_ref()));
    } else {
        steps.skip("rust tests", "s3 server");
    }

    let extension = if let Some(venv) = &venv {
        steps.run("python extension", || build_extension(repo, venv, Profile::Dev))
    } else {
        steps.skip("python extension", "venv");
        None
    };

    let chromium = steps.run("chromium", browser::ensure_chromium);
    // The original library's examples call `st.experimental_connection`, gone after 1.36.
    let old_streamlit = steps.run("streamlit 1.36 venv", || venv::ensure_old_streamlit(repo));
    match (&venv, &server, extension) {
        (Some(venv), Some(server), Some(())) => {
            let extras =
                Extras { chromium: chromium.as_deref(), old_streamlit: old_streamlit.as_ref() };
            steps.run("python tests", || python_tests(repo, venv, server, &extras));
        }
        (_, None, _) => steps.skip("python tests", "s3 server"),
        _ => steps.skip("python tests", "python extension"),
    }

    // Stop the server before the summary, so its shutdown is part of what the run reports.
    drop(server);
    drop(garage);
    conclude("test", &steps)
}

/// `cargo xtask lint`: formatting, clippy with warnings denied, and tidy.
///
/// # Errors
///
/// Any check failed.
pub(crate) fn lint(repo: &Repo) -> Result<(), String> {
    let mut steps = Steps::default();
    lint_steps(repo, &mut steps);
    conclude("lint", &steps)
}

fn lint_steps(repo: &Repo, steps: &mut Steps) {
    steps.run("lint: rustfmt", || {
        process::run(process::cargo(repo).args(["fmt", "--all", "--", "--check"]))
    });
    steps.run("lint: clippy", || {
        process::run(process::cargo(repo).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    });
    steps.run("lint: tidy", || tidy::run(repo));
}

/// Prints the summary and turns failed steps into the task's error.
fn conclude(task: &str, steps: &Steps) -> Result<(), String> {
    println!("\nsummary of `cargo xtask {task}`:\n{}", steps.summary());
    let unsuccessful = steps.unsuccessful();
    if unsuccessful.is_empty() {
        println!("xtask {task}: every step passed");
        Ok(())
    } else {
        Err(format!("these steps failed or could not run: {}", unsuccessful.join(", ")))
    }
}

/// Runs the Rust tests, echoing their output and counting what passed.
fn rust_tests(repo: &Repo, server: &Server, garage: Option<&Server>) -> Result<(), String> {
    let mut command = process::cargo(repo);
    command.args(["test", "--workspace", "--exclude", "s3kv-py"]);
    server.settings().apply(&mut command);
    if let Some(garage) = garage {
        garage.settings().apply_garage(&mut command);
    }
    println!("$ {}", process::describe(&command));

    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot start cargo test: {error}"))?;
    let mut passed = 0;
    if let Some(stdout) = child.stdout.take() {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).map_err(|error| error.to_string())? > 0 {
            let text = String::from_utf8_lossy(&line);
            print!("{text}");
            passed += passed_count(&text).unwrap_or(0);
            line.clear();
        }
    }
    let status = child.wait().map_err(|error| format!("cannot wait for cargo test: {error}"))?;

    process::check(&command, status)?;
    if passed == 0 {
        return Err("cargo test ran no test".to_owned());
    }
    println!("cargo test: {passed} tests passed in all");
    Ok(())
}

/// How many tests passed, from a libtest line such as `test result: ok. 12 passed; 0 failed; ...`.
fn passed_count(line: &str) -> Option<u64> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let (_, counts) = rest.split_once(". ")?;
    counts.split(';').find_map(|part| part.trim().strip_suffix(" passed")?.parse().ok())
}

/// Builds the extension into the virtualenv with maturin, in cargo's usual target directory.
pub(crate) fn build_extension(repo: &Repo, venv: &Venv, profile: Profile) -> Result<(), String> {
    if !repo.root().join(PYPROJECT).is_file() {
        return Err(format!(
            "{PYPROJECT} does not exist yet, so there is no Python package to build"
        ));
    }
    let mut command = venv.command("maturin");
    command.current_dir(repo.root()).args(["develop", "-m", EXTENSION_MANIFEST]);
    if let Profile::Release = profile {
        command.arg("--release");
    }
    process::run(&mut command)
}

/// What the Python tests use beside the virtualenv and the server, where its step succeeded;
/// the tests that need a missing one fail, naming it.
struct Extras<'a> {
    chromium: Option<&'a std::path::Path>,
    old_streamlit: Option<&'a Venv>,
}

fn python_tests(
    repo: &Repo,
    venv: &Venv,
    server: &Server,
    extras: &Extras<'_>,
) -> Result<(), String> {
    if !repo.root().join(PYTHON_TESTS).is_dir() {
        return Err(format!(
            "{PYTHON_TESTS} does not exist yet, so there is no Python test to run"
        ));
    }
    let mut command = venv.command("python");
    command.current_dir(repo.root()).args([
        "-m",
        "pytest",
        PYTHON_TESTS,
        "-p",
        "no:cacheprovider",
        "-rs",
    ]);
    server.settings().apply(&mut command);
    if let Some(chromium) = extras.chromium {
        command.env(browser::VARIABLE, chromium);
    }
    if let Some(old_streamlit) = extras.old_streamlit {
        command.env(OLD_STREAMLIT_VARIABLE, old_streamlit.program("python"));
    }

    let status = process::status(&mut command)?;
    if status.code() == Some(PYTEST_NO_TESTS) {
        return Err(format!("pytest collected no test in {PYTHON_TESTS}"));
    }
    process::check(&command, status)
}

/// `cargo xtask demo`: the demo app, served on loopback.
///
/// By default the extension is built as `cargo xtask test` builds it (the dev profile, with the
/// codec, crypto and compression crates optimised), so one command's build serves the other;
/// `release` builds it with the release profile instead.
///
/// # Errors
///
/// The app is missing, the build fails, or Streamlit exits unsuccessfully.
pub(crate) fn demo(repo: &Repo, release: bool, extra: &[String]) -> Result<(), String> {
    let demo_dir = repo.root().join(DEMO_DIR);
    if !demo_dir.join(DEMO_APP).is_file() {
        return Err(format!("{DEMO_DIR}/{DEMO_APP} does not exist yet"));
    }
    let venv = venv::ensure(repo)?;
    build_extension(repo, &venv, if release { Profile::Release } else { Profile::Dev })?;

    let mut command = venv.command("python");
    command.current_dir(&demo_dir).args(["-m", "streamlit", "run", DEMO_APP]).args([
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]);
    // Streamlit listens on every interface unless told otherwise; a demo needs loopback only.
    let address = option_value(extra, "--server.address").map_or_else(
        || {
            command.args(["--server.address", "127.0.0.1"]);
            "127.0.0.1".to_owned()
        },
        ToOwned::to_owned,
    );
    let port = if let Some(port) = option_value(extra, "--server.port") {
        port.to_owned()
    } else {
        let port = demo_port().to_string();
        command.args(["--server.port", &port]);
        port
    };
    command.args(extra);

    println!("demo: open http://{address}:{port} (Ctrl-C stops it)");
    run_until_interrupted(&mut command)
}

/// Streamlit's usual port when it is free, else any free one, so the printed address is right.
fn demo_port() -> u16 {
    let bind = |port| TcpListener::bind((Ipv4Addr::LOCALHOST, port)).ok()?.local_addr().ok();
    bind(STREAMLIT_PORT).or_else(|| bind(0)).map_or(STREAMLIT_PORT, |address| address.port())
}

/// The value of `--name value` or `--name=value` among the arguments.
fn option_value<'a>(arguments: &'a [String], name: &str) -> Option<&'a str> {
    let mut iter = arguments.iter();
    while let Some(argument) = iter.next() {
        if argument == name {
            return iter.next().map(String::as_str);
        }
        if let Some(value) = argument.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')) {
            return Some(value);
        }
    }
    None
}

/// Runs a foreground program that people stop with Ctrl-C, which is then not a failure.
fn run_until_interrupted(command: &mut Command) -> Result<(), String> {
    let status = process::status(command)?;
    // Ctrl-C reaches the whole process group; a program it stops has done what was asked.
    if status.code().is_none() {
        return Ok(());
    }
    process::check(command, status)
}

/// `cargo xtask s3-server`: the test server, kept running for tests started by hand.
///
/// # Errors
///
/// The server does not start, or stops by itself.
pub(crate) fn s3_server(repo: &Repo) -> Result<(), String> {
    let choice = Choice::from_environment()?;
    if let Choice::External(_) = &choice {
        println!(
            "{}: nothing to start; the S3KV_TEST_* variables already name it",
            choice.describe()
        );
        return Ok(());
    }
    let venv = venv::ensure(repo)?;
    let mut server = server::start(repo, choice, &venv)?;

    println!("\nexport these for `cargo test` or pytest in another shell:");
    print_settings(&server, true);
    println!("\nCtrl-C stops the server.");
    server.wait()
}

/// Prints the test variables as shell exports; the secret only when asked for.
fn print_settings(server: &Server, with_secret: bool) {
    for (name, value) in server.settings().variables() {
        if name.ends_with("SECRET_KEY") && !(with_secret && server.is_local()) {
            println!("export {name}=<set>");
        } else {
            println!("export {name}={value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{option_value, passed_count};

    #[test]
    fn passed_count_reads_libtest_summary() {
        let line = "test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; \
                    finished in 0.01s\n";
        assert_eq!(passed_count(line), Some(12));
        let failed = "test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured";
        assert_eq!(passed_count(failed), Some(3));
    }

    #[test]
    fn passed_count_ignores_other_lines() {
        assert_eq!(passed_count("running 0 tests"), None);
        assert_eq!(passed_count("test codec::round_trip ... ok"), None);
    }

    #[test]
    fn option_value_reads_both_spellings() {
        let spaced = vec!["--server.port".to_owned(), "8600".to_owned()];
        assert_eq!(option_value(&spaced, "--server.port"), Some("8600"));
        let joined = vec!["--server.port=8600".to_owned()];
        assert_eq!(option_value(&joined, "--server.port"), Some("8600"));
        assert_eq!(option_value(&joined, "--server.address"), None);
    }
}
