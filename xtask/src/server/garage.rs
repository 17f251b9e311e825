//! Garage, the second S3 server of `cargo xtask test`: real signatures, real key limits, and
//! conditional writes that it ignores, which s3kv must detect.
//!
//! Garage has no package that these machines can install, so xtask builds it once with
//! `cargo install` into a cache folder named after the version, outside the clone, and reuses
//! that binary in every later run. `GARAGE_BIN` names another binary instead.

use std::{
    env,
    fs::{self, File},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Instant,
};

use super::{
    ACCESS_KEY, BUCKET, REGION, SECRET_KEY, Server, Settings, StartError, free_port, loopback,
    wait_until_ready, with_log_tail,
};
use crate::{Repo, process};

/// The Garage release the tests run against; its binary is cached under this version.
const VERSION: &str = "2.5.0";

/// Garage keeps its metadata and data in `<scratch>/garage-<pid of xtask>`.
const DATA_PREFIX: &str = "garage-";

/// The shared secret of Garage's internal RPC: 32 bytes in hex. A single node on loopback talks
/// to nobody else, so a fixed value protects nothing and needs no protecting.
const RPC_SECRET: &str = "5333b5d0c0ffee5333b5d0c0ffee5333b5d0c0ffee5333b5d0c0ffee5333b5d0";

/// Where the binary is, or will be built: `GARAGE_BIN`, else the version's cache folder.
///
/// # Errors
///
/// `GARAGE_BIN` names no file, or no home folder is known for the cache.
fn locate() -> Result<(PathBuf, Option<PathBuf>), String> {
    if let Some(binary) = env::var_os("GARAGE_BIN").filter(|value| !value.is_empty()) {
        let binary = PathBuf::from(binary);
        if !binary.is_file() {
            return Err(format!("GARAGE_BIN names {}, which is not a file", binary.display()));
        }
        return Ok((binary, None));
    }
    let home = env::var_os("HOME").filter(|value| !value.is_empty()).ok_or(
        "HOME is not set, so there is no cache folder for the Garage binary: set GARAGE_BIN",
    )?;
    let root = Path::new(&home).join(".cache/s3kv").join(format!("garage-{VERSION}"));
    Ok((root.join("bin/garage"), Some(root)))
}

/// The cached Garage binary, built into its cache folder first when it is missing.
///
/// # Errors
///
/// The binary is missing and building it fails.
pub(crate) fn binary(repo: &Repo) -> Result<PathBuf, String> {
    let (binary, cache_root) = locate()?;
    if binary.is_file() {
        return Ok(binary);
    }
    let Some(cache_root) = cache_root else {
        return Err(format!("{} is missing", binary.display()));
    };

    // Two runs at once build it once: the second waits here, then finds the binary.
    fs::create_dir_all(&cache_root)
        .map_err(|error| format!("cannot create {}: {error}", cache_root.display()))?;
    let lock_path = cache_root.join("build.lock");
    let lock = File::create(&lock_path)
        .map_err(|error| format!("cannot create {}: {error}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        println!("another run is building Garage into {}: waiting", cache_root.display());
        lock.lock().map_err(|error| format!("cannot lock {}: {error}", lock_path.display()))?;
    }
    if binary.is_file() {
        return Ok(binary);
    }

    println!(
        "Garage {VERSION} is not cached at {}: building it once (about 25 minutes on 2 cores)",
        binary.display()
    );
    let started = Instant::now();
    let mut command = process::cargo(repo);
    command
        .args(["install", "garage", "--version", VERSION, "--locked", "--root"])
        .arg(&cache_root)
        // Outside the workspace, so its profiles and target folder do not apply.
        .current_dir(env::temp_dir());
    process::run(&mut command)?;
    if !binary.is_file() {
        return Err(format!("cargo install finished but {} is missing", binary.display()));
    }
    println!("built Garage in {:.0}s", started.elapsed().as_secs_f64());
    Ok(binary)
}

/// Starts a single Garage node on loopback with the test bucket and key, built if need be.
///
/// # Errors
///
/// The binary cannot be built, or the server does not start or answer in time.
pub(crate) fn start(repo: &Repo) -> Result<Server, String> {
    let binary = binary(repo)?;
    let scratch = repo.scratch_dir()?;
    let log = scratch.join("garage.log");
    super::remove_stale_data_dirs(&scratch, DATA_PREFIX);

    for attempt in 1..=super::START_ATTEMPTS {
        let started = Instant::now();
        match start_once(&binary, &scratch, &log) {
            Ok(server) => {
                println!(
                    "garage answers on {} after {:.1}s; bucket {}; log {}",
                    server.settings.endpoint,
                    started.elapsed().as_secs_f64(),
                    server.settings.bucket,
                    repo.relative(&log).display()
                );
                return Ok(server);
            }
            Err(StartError::Exited(status)) if attempt < super::START_ATTEMPTS => {
                println!("garage {} while starting; trying other ports", process::ending(status));
            }
            Err(StartError::Exited(status)) => {
                let reason = format!("garage {} while starting", process::ending(status));
                return Err(with_log_tail(&reason, &log));
            }
            Err(StartError::Other(reason)) => return Err(with_log_tail(&reason, &log)),
        }
    }
    Err("garage did not start".to_owned())
}

fn start_once(binary: &Path, scratch: &Path, log: &Path) -> Result<Server, StartError> {
    let other = |message: String| StartError::Other(message);
    let data_dir = scratch.join(format!("{DATA_PREFIX}{}", std::process::id()));
    let _ = fs::remove_dir_all(&data_dir);
    fs::create_dir_all(&data_dir)
        .map_err(|error| other(format!("cannot create {}: {error}", data_dir.display())))?;

    let [s3_port, rpc_port, admin_port] = [free_port(), free_port(), free_port()];
    let (s3_port, rpc_port, admin_port) =
        (s3_port.map_err(other)?, rpc_port.map_err(other)?, admin_port.map_err(other)?);
    let config = data_dir.join("garage.toml");
    fs::write(&config, config_text(&data_dir, s3_port, rpc_port, admin_port))
        .map_err(|error| other(format!("cannot write {}: {error}", config.display())))?;

    let log_file = File::create(log)
        .map_err(|error| other(format!("cannot create {}: {error}", log.display())))?;
    let log_copy = log_file
        .try_clone()
        .map_err(|error| other(format!("cannot share the log file: {error}")))?;
    let mut command = Command::new(binary);
    command
        .arg("-c")
        .arg(&config)
        .args(["server", "--single-node", "--default-bucket"])
        .env("GARAGE_DEFAULT_ACCESS_KEY", ACCESS_KEY)
        .env("GARAGE_DEFAULT_SECRET_KEY", SECRET_KEY)
        .env("GARAGE_DEFAULT_BUCKET", BUCKET)
        .env("RUST_LOG", "garage=warn")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_copy);
    println!("$ {}", process::describe(&command));
    let child = command.spawn().map_err(|error| other(format!("cannot start garage: {error}")))?;

    // From here on the guard owns the process and its folder, so every early return cleans up.
    let mut server = Server {
        name: "garage",
        settings: Settings::local(s3_port),
        child: Some(child),
        data_dir: Some(data_dir),
    };
    println!("garage started as pid {}", server.child.as_ref().map_or(0, std::process::Child::id));
    wait_until_ready(&mut server, loopback(s3_port), "/")?;
    Ok(server)
}

/// A single-node configuration: everything on loopback, metadata in sqlite (lmdb refuses keys
/// over 479 bytes, which the suite writes).
fn config_text(data_dir: &Path, s3_port: u16, rpc_port: u16, admin_port: u16) -> String {
    let dir = data_dir.display();
    format!(
        "metadata_dir = \"{dir}/meta\"\n\
         data_dir = \"{dir}/data\"\n\
         db_engine = \"sqlite\"\n\
         replication_factor = 1\n\
         rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\n\
         rpc_public_addr = \"127.0.0.1:{rpc_port}\"\n\
         rpc_secret = \"{RPC_SECRET}\"\n\
         \n\
         [s3_api]\n\
         s3_region = \"{REGION}\"\n\
         api_bind_addr = \"127.0.0.1:{s3_port}\"\n\
         \n\
         [admin]\n\
         api_bind_addr = \"127.0.0.1:{admin_port}\"\n"
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{RPC_SECRET, config_text};

    #[test]
    fn rpc_secret_is_32_bytes_of_hex() {
        assert_eq!(RPC_SECRET.len(), 64);
        assert!(RPC_SECRET.bytes().all(|byte| byte.is_ascii_hexdigit()));
    }

    #[test]
    fn config_binds_loopback_only_and_uses_sqlite() {
        let text = config_text(Path::new("/tmp/g"), 3900, 3901, 3903);
        assert!(text.contains("db_engine = \"sqlite\""), "{text}");
        assert!(text.contains("api_bind_addr = \"127.0.0.1:3900\""), "{text}");
        assert!(text.contains("rpc_bind_addr = \"127.0.0.1:3901\""), "{text}");
        assert!(text.contains("api_bind_addr = \"127.0.0.1:3903\""), "{text}");
        let addresses = text.lines().filter(|line| line.contains("_addr")).count();
        let loopback = text.lines().filter(|line| line.contains("\"127.0.0.1:")).count();
        assert_eq!(addresses, loopback, "{text}");
    }
}
