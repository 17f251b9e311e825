//! `cargo xtask`: the repository's own tasks, so a fresh clone needs one command to test.
//!
//! The subcommands are listed in [`USAGE`].
//! Each prints what it runs and ends with a plain verdict; a failure exits non-zero.

// Printing progress, commands and verdicts is this tool's whole job.
#![allow(clippy::print_stdout)]
#![forbid(unsafe_code)]

mod bench;
mod browser;
mod fuzz;
mod http;
mod process;
mod server;
mod steps;
mod tasks;
mod tidy;
mod venv;

use std::{
    env,
    path::{Path, PathBuf},
    process::ExitCode,
};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test        lint, then the Rust tests and the Python tests against an S3 test server (and
              the original library's examples on Streamlit 1.36, in .venv-streamlit-1.36)
  lint        cargo fmt --check, cargo clippy -D warnings, and tidy
  tidy        the repository's own checks: crate layering, module docs, forbidden macros
  demo        build the extension (as `test` does, or `--release`) and run examples/demo_app.py
              with Streamlit; arguments after `--` go to streamlit, e.g.
              `cargo xtask demo -- --server.port 8600`
  s3-server   start the S3 test server, print the S3KV_TEST_* variables, run until Ctrl-C
  bench       build the extension in release mode, start Garage (and moto for KMS), run the
              side-by-side comparison (benches/compare/), then the criterion benches; `--quick`
              skips criterion and uses small sizes; arguments after `--` go to criterion
  fuzz        run each codec fuzz target (fuzz/) for `--seconds N` (default 60); name targets
              to run only those: header, chunk, object, stream, range
  help        this text

The S3 test server is an external one when S3KV_TEST_ENDPOINT, S3KV_TEST_ACCESS_KEY and
S3KV_TEST_SECRET_KEY are set, else MinIO when MINIO_BIN names a binary or `minio` is on PATH,
else moto from the virtualenv at .venv. `test` also starts Garage 2.5.0 for the Rust tests
(S3KV_TEST_GARAGE_*): GARAGE_BIN, else ~/.cache/s3kv/garage-2.5.0/bin/garage, built there
with `cargo install` (about 25 minutes, once) when missing.";

/// Where the repository and its generated files are.
#[derive(Debug)]
pub(crate) struct Repo {
    root: PathBuf,
}

impl Repo {
    /// The repository holding this xtask, found from where cargo built it.
    fn locate() -> Self {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf();
        Repo { root }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Cargo's target directory, where xtask also keeps server logs and data.
    pub(crate) fn target_dir(&self) -> PathBuf {
        match env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => self.root.join(dir),
            _ => self.root.join("target"),
        }
    }

    /// A scratch directory for xtask's own files, created on demand.
    pub(crate) fn scratch_dir(&self) -> Result<PathBuf, String> {
        let dir = self.target_dir().join("xtask");
        std::fs::create_dir_all(&dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        Ok(dir)
    }

    /// A path relative to the root, for messages.
    pub(crate) fn relative<'a>(&self, path: &'a Path) -> &'a Path {
        path.strip_prefix(&self.root).unwrap_or(path)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let repo = Repo::locate();
    let Some((command, rest)) = args.split_first() else {
        println!("{USAGE}");
        return ExitCode::from(2);
    };

    let result = match command.as_str() {
        "test" => no_options("test", rest).and_then(|()| tasks::test(&repo)),
        "lint" => no_options("lint", rest).and_then(|()| tasks::lint(&repo)),
        "tidy" => no_options("tidy", rest).and_then(|()| tidy::run(&repo)),
        "demo" => {
            demo_arguments(rest).and_then(|(release, extra)| tasks::demo(&repo, release, extra))
        }
        "s3-server" => no_options("s3-server", rest).and_then(|()| tasks::s3_server(&repo)),
        "fuzz" => fuzz::run(&repo, rest),
        "bench" => bench::run(&repo, rest),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            println!("unknown command `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("\nxtask {command}: FAILED: {message}");
            ExitCode::FAILURE
        }
    }
}

fn no_options(command: &str, rest: &[String]) -> Result<(), String> {
    match rest.first() {
        None => Ok(()),
        Some(argument) => Err(format!("`{command}` takes no arguments, got `{argument}`")),
    }
}

/// Whether `--release` was asked for, and the arguments for streamlit: everything after `--`.
fn demo_arguments(rest: &[String]) -> Result<(bool, &[String]), String> {
    let (release, rest) = match rest.split_first() {
        Some((first, after)) if first == "--release" => (true, after),
        _ => (false, rest),
    };
    match rest.split_first() {
        None => Ok((release, &[])),
        Some((first, extra)) if first == "--" => Ok((release, extra)),
        Some((first, _)) => Err(format!(
            "`demo` takes `--release`, then arguments for streamlit after `--`; got `{first}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::{demo_arguments, no_options};

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn demo_arguments_after_separator_pass_through() {
        let args = strings(&["--", "--server.port", "8600"]);
        assert_eq!(demo_arguments(&args), Ok((false, &args[1..])));
        let args = strings(&["--release", "--", "--server.port", "8600"]);
        assert_eq!(demo_arguments(&args), Ok((true, &args[2..])));
    }

    #[test]
    fn demo_without_arguments_passes_none() {
        assert_eq!(demo_arguments(&[]), Ok((false, &[][..])));
    }

    #[test]
    fn demo_argument_before_separator_is_refused() {
        let args = strings(&["--server.port", "8600"]);
        assert!(demo_arguments(&args).is_err());
    }

    #[test]
    fn command_without_options_refuses_one() {
        assert!(no_options("test", &strings(&["--fast"])).is_err());
        assert!(no_options("test", &[]).is_ok());
    }
}
