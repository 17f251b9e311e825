//! The S3 server the tests run against: an external one, `MinIO` or moto, on loopback only.
//!
//! A started server lives in a [`Server`] whose `Drop` kills it, so every way out of a task,
//! a failed step or a panic included, stops what xtask started.
//! Ctrl-C reaches the server directly: it runs in the terminal's process group.

use std::{
    env,
    fs::{self, File},
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use crate::{Repo, http, process, venv::Venv};

mod garage;

pub(crate) use garage::start as start_garage;

/// The bucket the tests use on a server xtask starts.
const BUCKET: &str = "s3kv-test";

/// The region the tests sign for; both local servers accept it.
const REGION: &str = "us-east-1";

/// Credentials of a local server: moto accepts any, `MinIO` wants at least 3 and 8 characters.
const ACCESS_KEY: &str = "s3kv-test-access";
const SECRET_KEY: &str = "s3kv-test-secret";

/// How long a starting server may take to answer, and how often it is asked.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const POLL_INTERVAL: Duration = Duration::from_millis(100);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Starts with a port that another program took between its choice and the server's bind fail;
/// a few fresh ports make that race harmless.
const START_ATTEMPTS: u32 = 3;

/// `MinIO` keeps its data in `<scratch>/minio-data-<pid of xtask>`.
const MINIO_DATA_PREFIX: &str = "minio-data-";

/// How many lines of a failed server's log are shown.
const LOG_TAIL_LINES: usize = 20;

/// Creates the bucket on `MinIO`, which checks signatures, through boto3 from the virtualenv.
const CREATE_BUCKET_SCRIPT: &str = "\
import os, boto3, botocore.config
client = boto3.client(
    's3',
    endpoint_url=os.environ['S3KV_TEST_ENDPOINT'],
    aws_access_key_id=os.environ['S3KV_TEST_ACCESS_KEY'],
    aws_secret_access_key=os.environ['S3KV_TEST_SECRET_KEY'],
    region_name=os.environ['S3KV_TEST_REGION'],
    config=botocore.config.Config(s3={'addressing_style': 'path'}),
)
client.create_bucket(Bucket=os.environ['S3KV_TEST_BUCKET'])
";

/// Runs moto's server with one request at a time in its application.
///
/// moto checks `If-Match` and `If-None-Match` and then writes, as two steps, while its threaded
/// server runs requests side by side: two racing compare-and-swaps can then both win, which AWS
/// never allows. Serialising the application (connections are still accepted in parallel) makes
/// its conditional writes atomic, so the tests measure s3kv, not moto's race.
const MOTO_SCRIPT: &str = "\
import sys, threading
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main
lock = threading.Lock()
dispatch = DomainDispatcherApplication.__call__
def serialised(self, environ, start_response):
    with lock:
        return list(dispatch(self, environ, start_response))
DomainDispatcherApplication.__call__ = serialised
sys.exit(main(sys.argv[1:]))
";

/// What the tests read from the `S3KV_TEST_*` variables.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    endpoint: String,
    bucket: String,
    access_key: String,
    secret_key: String,
    region: String,
}

impl Settings {
    fn local(port: u16) -> Self {
        Settings {
            endpoint: format!("http://{}", loopback(port)),
            bucket: BUCKET.to_owned(),
            access_key: ACCESS_KEY.to_owned(),
            secret_key: SECRET_KEY.to_owned(),
            region: REGION.to_owned(),
        }
    }

    /// The variables as name and value.
    pub(crate) fn variables(&self) -> [(&'static str, &str); 5] {
        [
            ("S3KV_TEST_ENDPOINT", &self.endpoint),
            ("S3KV_TEST_BUCKET", &self.bucket),
            ("S3KV_TEST_ACCESS_KEY", &self.access_key),
            ("S3KV_TEST_SECRET_KEY", &self.secret_key),
            ("S3KV_TEST_REGION", &self.region),
        ]
    }

    /// Sets the variables on a command.
    pub(crate) fn apply(&self, command: &mut Command) {
        for (name, value) in self.variables() {
            command.env(name, value);
        }
        // A server was started for this run: a test that finds no S3 settings must fail, not skip.
        command.env("S3KV_REQUIRE_S3", "1");
    }

    /// The variables that name the Garage server, beside those of the main one.
    pub(crate) fn garage_variables(&self) -> [(&'static str, &str); 5] {
        [
            ("S3KV_TEST_GARAGE_ENDPOINT", &self.endpoint),
            ("S3KV_TEST_GARAGE_BUCKET", &self.bucket),
            ("S3KV_TEST_GARAGE_ACCESS_KEY", &self.access_key),
            ("S3KV_TEST_GARAGE_SECRET_KEY", &self.secret_key),
            ("S3KV_TEST_GARAGE_REGION", &self.region),
        ]
    }

    /// Sets the Garage variables on a command, and requires the Garage cases to run.
    pub(crate) fn apply_garage(&self, command: &mut Command) {
        for (name, value) in self.garage_variables() {
            command.env(name, value);
        }
        command.env("S3KV_REQUIRE_GARAGE", "1");
    }
}

/// Which server the tests use.
#[derive(Debug)]
pub(crate) enum Choice {
    /// A server someone else runs, named by `S3KV_TEST_*` variables.
    External(Settings),
    /// A `MinIO` binary.
    Minio(PathBuf),
    /// moto's server from the virtualenv.
    Moto,
}

impl Choice {
    /// The server the environment asks for, in the order the usage text gives.
    ///
    /// # Errors
    ///
    /// An endpoint is set without credentials, or `MINIO_BIN` names no file.
    pub(crate) fn from_environment() -> Result<Choice, String> {
        if let Some(endpoint) = variable("S3KV_TEST_ENDPOINT") {
            let required = |name: &str| {
                variable(name)
                    .ok_or_else(|| format!("S3KV_TEST_ENDPOINT is set but {name} is not: set both"))
            };
            return Ok(Choice::External(Settings {
                endpoint,
                access_key: required("S3KV_TEST_ACCESS_KEY")?,
                secret_key: required("S3KV_TEST_SECRET_KEY")?,
                bucket: variable("S3KV_TEST_BUCKET").unwrap_or_else(|| BUCKET.to_owned()),
                region: variable("S3KV_TEST_REGION").unwrap_or_else(|| REGION.to_owned()),
            }));
        }

        if let Some(binary) = variable("MINIO_BIN") {
            let binary = PathBuf::from(binary);
            if !binary.is_file() {
                return Err(format!("MINIO_BIN names {}, which is not a file", binary.display()));
            }
            return Ok(Choice::Minio(binary));
        }
        Ok(find_on_path("minio").map_or(Choice::Moto, Choice::Minio))
    }

    /// What was chosen and why, for the log.
    pub(crate) fn describe(&self) -> String {
        match self {
            Choice::External(settings) => {
                format!("external server at {} (from S3KV_TEST_ENDPOINT)", settings.endpoint)
            }
            Choice::Minio(binary) => format!("MinIO from {}", binary.display()),
            Choice::Moto => "moto (no S3KV_TEST_ENDPOINT, no MINIO_BIN, no minio on PATH)".into(),
        }
    }
}

/// A server in use; one xtask started is killed when this is dropped.
#[derive(Debug)]
pub(crate) struct Server {
    name: &'static str,
    settings: Settings,
    child: Option<Child>,
    data_dir: Option<PathBuf>,
}

impl Server {
    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether xtask started this server, rather than using one already running.
    pub(crate) fn is_local(&self) -> bool {
        self.child.is_some()
    }

    /// Blocks until the server stops, as it does when Ctrl-C reaches it.
    ///
    /// # Errors
    ///
    /// The server failed (exited with a code other than 0), or waiting for it failed.
    pub(crate) fn wait(&mut self) -> Result<(), String> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        let status =
            child.wait().map_err(|error| format!("cannot wait for {}: {error}", self.name))?;
        self.child = None;
        if status.success() || status.code().is_none() {
            println!("{} stopped", self.name);
            Ok(())
        } else {
            Err(format!("{} {}", self.name, process::ending(status)))
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id();
            if let Ok(Some(status)) = child.try_wait() {
                println!("{} (pid {pid}) had already stopped: it {}", self.name, ending(status));
            } else {
                // A test server holds nothing worth a graceful shutdown, so it is killed at once.
                let _ = child.kill();
                let _ = child.wait();
                println!("stopped {} (pid {pid})", self.name);
            }
        }
        if let Some(dir) = self.data_dir.take() {
            let _ = fs::remove_dir_all(dir);
        }
    }
}

/// Starts the chosen server and creates the test bucket on it; an external one is used as is.
///
/// # Errors
///
/// The server does not start, does not answer in time, or refuses to create the bucket.
pub(crate) fn start(repo: &Repo, choice: Choice, venv: &Venv) -> Result<Server, String> {
    println!("S3 server: {}", choice.describe());
    match choice {
        Choice::External(settings) => {
            Ok(Server { name: "external server", settings, child: None, data_dir: None })
        }
        Choice::Minio(binary) => start_local(repo, venv, &Kind::Minio(binary)),
        Choice::Moto => start_local(repo, venv, &Kind::Moto),
    }
}

/// A server xtask runs itself.
enum Kind {
    Minio(PathBuf),
    Moto,
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Minio(_) => "minio",
            Kind::Moto => "moto",
        }
    }

    /// A path that answers once the server serves requests.
    fn ready_path(&self) -> &'static str {
        match self {
            Kind::Minio(_) => "/minio/health/live",
            Kind::Moto => "/",
        }
    }
}

/// Why a start attempt failed.
enum StartError {
    /// The server exited before answering; another port may work.
    Exited(ExitStatus),
    Other(String),
}

fn start_local(repo: &Repo, venv: &Venv, kind: &Kind) -> Result<Server, String> {
    let scratch = repo.scratch_dir()?;
    let log = scratch.join(format!("{}.log", kind.name()));

    for attempt in 1..=START_ATTEMPTS {
        let started = Instant::now();
        match start_once(venv, kind, &scratch, &log) {
            Ok(server) => {
                create_bucket(&server, kind, venv)?;
                println!(
                    "{} answers on {} after {:.1}s; bucket {}; log {}",
                    kind.name(),
                    server.settings.endpoint,
                    started.elapsed().as_secs_f64(),
                    server.settings.bucket,
                    repo.relative(&log).display()
                );
                return Ok(server);
            }
            Err(StartError::Exited(status)) if attempt < START_ATTEMPTS => {
                println!("{} {} while starting; trying another port", kind.name(), ending(status));
            }
            Err(StartError::Exited(status)) => {
                let reason = format!("{} {} while starting", kind.name(), ending(status));
                return Err(with_log_tail(&reason, &log));
            }
            Err(StartError::Other(reason)) => return Err(with_log_tail(&reason, &log)),
        }
    }
    Err(format!("{} did not start", kind.name()))
}

/// Spawns the server on a fresh port and waits until it answers.
fn start_once(venv: &Venv, kind: &Kind, scratch: &Path, log: &Path) -> Result<Server, StartError> {
    let port = free_port().map_err(StartError::Other)?;
    let log_file = File::create(log)
        .map_err(|error| StartError::Other(format!("cannot create {}: {error}", log.display())))?;
    let log_copy = log_file
        .try_clone()
        .map_err(|error| StartError::Other(format!("cannot share the log file: {error}")))?;

    let (mut command, data_dir) = match kind {
        Kind::Moto => (moto_command(venv, port).map_err(StartError::Other)?, None),
        Kind::Minio(binary) => {
            // One folder per xtask process, so a second server never wipes a running one's data.
            remove_stale_data_dirs(scratch, MINIO_DATA_PREFIX);
            let data_dir = scratch.join(format!("{MINIO_DATA_PREFIX}{}", std::process::id()));
            let _ = fs::remove_dir_all(&data_dir);
            let console_port = free_port().map_err(StartError::Other)?;
            (minio_command(binary, &data_dir, port, console_port), Some(data_dir))
        }
    };
    command.stdin(Stdio::null()).stdout(log_file).stderr(log_copy);
    println!("$ {}", process::describe(&command));
    let child = command
        .spawn()
        .map_err(|error| StartError::Other(format!("cannot start {}: {error}", kind.name())))?;

    // From here on the guard owns the process, so every early return below kills it.
    let mut server =
        Server { name: kind.name(), settings: Settings::local(port), child: Some(child), data_dir };
    println!("{} started as pid {}", kind.name(), server.child.as_ref().map_or(0, Child::id));
    wait_until_ready(&mut server, loopback(port), kind.ready_path())?;
    Ok(server)
}

fn moto_command(venv: &Venv, port: u16) -> Result<Command, String> {
    let program = venv.program("moto_server");
    if !program.is_file() {
        return Err(format!(
            "{} is missing: moto[server] in requirements-dev.txt provides it",
            program.display()
        ));
    }
    let mut command = venv.command("python");
    command.args(["-c", MOTO_SCRIPT, "-H", "127.0.0.1", "-p", &port.to_string()]);
    Ok(command)
}

fn minio_command(binary: &Path, data_dir: &Path, port: u16, console_port: u16) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("server")
        .arg(data_dir)
        .args(["--address", &loopback(port).to_string()])
        .args(["--console-address", &loopback(console_port).to_string()])
        .arg("--quiet")
        .env("MINIO_ROOT_USER", ACCESS_KEY)
        .env("MINIO_ROOT_PASSWORD", SECRET_KEY)
        // Tests need no web console, and the server must not reach out for updates or telemetry.
        .env("MINIO_BROWSER", "off")
        .env("MINIO_UPDATE", "off")
        .env("MINIO_CALLHOME_ENABLE", "off");
    command
}

/// Polls until the server answers any HTTP status, bounded in attempts and in time.
fn wait_until_ready(
    server: &mut Server,
    address: SocketAddr,
    path: &str,
) -> Result<(), StartError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let max_polls = READY_TIMEOUT.as_millis() / POLL_INTERVAL.as_millis();

    for _ in 0..max_polls {
        if let Some(child) = server.child.as_mut() {
            match child.try_wait() {
                Ok(Some(status)) => {
                    server.child = None;
                    return Err(StartError::Exited(status));
                }
                Ok(None) => {}
                Err(error) => {
                    return Err(StartError::Other(format!("cannot poll server: {error}")));
                }
            }
        }
        if http::request(address, "GET", path, REQUEST_TIMEOUT).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            break;
        }
        thread::sleep(POLL_INTERVAL);
    }
    Err(StartError::Other(format!(
        "{} did not answer on {address} within {}s",
        server.name,
        READY_TIMEOUT.as_secs()
    )))
}

fn create_bucket(server: &Server, kind: &Kind, venv: &Venv) -> Result<(), String> {
    let settings = &server.settings;
    match kind {
        // moto checks no signature, so a bare request creates the bucket without starting Python.
        Kind::Moto => {
            let address = settings
                .endpoint
                .trim_start_matches("http://")
                .parse()
                .map_err(|error| format!("bad endpoint {}: {error}", settings.endpoint))?;
            let path = format!("/{}", settings.bucket);
            let status = http::request(address, "PUT", &path, REQUEST_TIMEOUT)
                .map_err(|error| format!("cannot create bucket {}: {error}", settings.bucket))?;
            if status == 200 {
                Ok(())
            } else {
                Err(format!("creating bucket {} answered HTTP {status}", settings.bucket))
            }
        }
        Kind::Minio(_) => {
            let mut command = venv.command("python");
            command.args(["-c", CREATE_BUCKET_SCRIPT]);
            settings.apply(&mut command);
            process::run(&mut command)
                .map_err(|error| format!("cannot create bucket {}: {error}", settings.bucket))
        }
    }
}

/// Removes server folders named `<prefix><pid>` left by xtask processes that ended without
/// cleaning up (Ctrl-C).
///
/// Only where `/proc` tells which processes run; elsewhere the folders stay until `cargo clean`.
fn remove_stale_data_dirs(scratch: &Path, prefix: &str) {
    let proc_dir = Path::new("/proc");
    if !proc_dir.join("self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(scratch) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|name| name.strip_prefix(prefix)) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !proc_dir.join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A port that is free on loopback now.
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| format!("cannot find a free port on 127.0.0.1: {error}"))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// An environment variable that is set and not empty.
fn variable(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.is_empty())
}

/// The first file of that name in a `PATH` directory.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

fn ending(status: ExitStatus) -> String {
    process::ending(status)
}

/// A failure message followed by the end of the server's log, where the cause usually is.
fn with_log_tail(reason: &str, log: &Path) -> String {
    let Ok(text) = fs::read_to_string(log) else {
        return reason.to_owned();
    };
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
    if tail.is_empty() {
        return format!("{reason} (its log {} is empty)", log.display());
    }
    format!("{reason}; the end of {}:\n{}", log.display(), tail.join("\n"))
}

#[cfg(test)]
mod tests {
    use std::{fs, process::Command};

    use super::{LOG_TAIL_LINES, Settings, with_log_tail};

    #[test]
    fn local_settings_point_at_loopback() {
        let settings = Settings::local(9000);
        let variables = settings.variables();
        assert_eq!(variables[0], ("S3KV_TEST_ENDPOINT", "http://127.0.0.1:9000"));
        assert_eq!(variables[1], ("S3KV_TEST_BUCKET", "s3kv-test"));
    }

    #[test]
    fn applied_settings_reach_the_command() {
        let mut command = Command::new("true");
        Settings::local(9000).apply(&mut command);
        let names: Vec<_> = command.get_envs().map(|(name, _)| name.to_owned()).collect();
        assert_eq!(names.len(), 6);
        assert!(names.iter().any(|name| name == "S3KV_TEST_REGION"));
        assert!(names.iter().any(|name| name == "S3KV_REQUIRE_S3"));
    }

    #[test]
    fn failure_message_quotes_only_the_end_of_the_log() {
        let dir = std::env::temp_dir().join(format!("xtask-log-test-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("create temporary directory");
        let log = dir.join("server.log");
        let lines: Vec<String> = (0..50).map(|number| format!("line {number}")).collect();
        fs::write(&log, lines.join("\n")).expect("write log");

        let message = with_log_tail("moto exited", &log);
        fs::remove_dir_all(&dir).expect("remove temporary directory");
        assert!(message.starts_with("moto exited; the end of"), "{message}");
        assert!(message.ends_with("line 49"), "{message}");
        assert!(!message.contains("line 29\n"), "{message}");
        assert_eq!(message.lines().count(), LOG_TAIL_LINES + 1);
    }
}
