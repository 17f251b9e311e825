//! The virtualenvs of the pinned Python tools, reinstalled only when their pins change: `.venv`
//! for everything, and `.venv-streamlit-1.36` with the last Streamlit that has
//! `st.experimental_connection`, where the original library's examples run.

use std::{
    env,
    ffi::OsString,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::{Repo, process};

/// The file listing the pinned Python tools.
const REQUIREMENTS: &str = "requirements-dev.txt";

/// The folder and pins of the old Streamlit's virtualenv.
const OLD_STREAMLIT_DIR: &str = ".venv-streamlit-1.36";
const OLD_STREAMLIT_REQUIREMENTS: &str = "requirements-streamlit-1.36.txt";

/// Inside the virtualenv: the digest of the requirements last installed there.
const STAMP: &str = "s3kv-requirements.stamp";

/// A virtualenv whose programs run with it activated.
#[derive(Debug)]
pub(crate) struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// A program from the virtualenv's `bin`.
    pub(crate) fn program(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }

    /// A command for a program of the virtualenv, with `VIRTUAL_ENV` and `PATH` as activation sets.
    pub(crate) fn command(&self, name: &str) -> Command {
        let mut command = Command::new(self.program(name));
        let mut path = OsString::from(self.dir.join("bin"));
        if let Some(outer) = env::var_os("PATH") {
            path.push(":");
            path.push(outer);
        }
        command.env("VIRTUAL_ENV", &self.dir).env("PATH", path).env_remove("PYTHONHOME");
        command
    }
}

/// The repository's virtualenv, created if missing and synchronised with the requirements file.
///
/// # Errors
///
/// Python cannot create the virtualenv, the requirements file cannot be read, or pip fails.
pub(crate) fn ensure(repo: &Repo) -> Result<Venv, String> {
    ensure_at(repo, ".venv", REQUIREMENTS)
}

/// The virtualenv with Streamlit 1.36, created and synchronised as [`ensure`] does. It holds
/// no s3kv: a test puts the package built into `.venv` on its path.
///
/// # Errors
///
/// As [`ensure`].
pub(crate) fn ensure_old_streamlit(repo: &Repo) -> Result<Venv, String> {
    ensure_at(repo, OLD_STREAMLIT_DIR, OLD_STREAMLIT_REQUIREMENTS)
}

fn ensure_at(repo: &Repo, folder: &str, requirements: &str) -> Result<Venv, String> {
    let venv = Venv { dir: repo.root().join(folder) };
    let python = venv.program("python");
    if runs(&python) {
        println!("reusing {}", repo.relative(&venv.dir).display());
    } else {
        create(repo, &venv.dir)?;
    }

    let requirements_path = repo.root().join(requirements);
    let pins = fs::read(&requirements_path)
        .map_err(|error| format!("cannot read {requirements}: {error}"))?;
    let digest = format!("fnv1a-64 {:016x}", fnv1a_64(&pins));
    let stamp = venv.dir.join(STAMP);
    if fs::read_to_string(&stamp).is_ok_and(|installed| installed.trim() == digest) {
        println!("{requirements} unchanged since the last install");
        return Ok(venv);
    }

    let mut pip = venv.command("python");
    pip.current_dir(repo.root())
        .args(["-m", "pip", "install", "--disable-pip-version-check", "--progress-bar", "off"])
        .arg("-r")
        .arg(&requirements_path);
    process::run(&mut pip)?;
    fs::write(&stamp, format!("{digest}\n"))
        .map_err(|error| format!("cannot write {}: {error}", stamp.display()))?;
    Ok(venv)
}

/// Creates the virtualenv with `$PYTHON` or `python3`, clearing a broken one in the way.
fn create(repo: &Repo, dir: &Path) -> Result<(), String> {
    let python = env::var_os("PYTHON").filter(|value| !value.is_empty());
    let mut command = Command::new(python.unwrap_or_else(|| OsString::from("python3")));
    command.current_dir(repo.root()).args(["-m", "venv"]);
    if dir.exists() {
        println!("{} exists but its python does not run: recreating it", dir.display());
        command.arg("--clear");
    }
    command.arg(dir);
    process::run(&mut command)
}

/// Whether a Python interpreter starts.
fn runs(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", ""])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// FNV-1a, 64-bit: a stable digest that needs no dependency, enough to notice an edited file.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, &byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::fnv1a_64;

    #[test]
    fn digest_matches_published_fnv1a_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn digest_changes_when_a_pin_changes() {
        assert_ne!(fnv1a_64(b"moto==5.2.5\n"), fnv1a_64(b"moto==5.2.4\n"));
    }
}
