//! The Chromium that the end-to-end Python test drives: Debian's package, installed when missing.
//!
//! Playwright's own browser download is not used: the distribution's package comes from the
//! registry the machine already trusts, and the test launches it by path.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::process;

/// Where Debian's `chromium` package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The variable that tells the Python tests which browser to launch.
pub(crate) const VARIABLE: &str = "S3KV_CHROMIUM";

/// The Chromium binary, installed with `apt-get` first when it is not there.
///
/// # Errors
///
/// The browser is missing and `apt-get` is not available, fails, or leaves no browser behind.
pub(crate) fn ensure_chromium() -> Result<PathBuf, String> {
    let path = Path::new(CHROMIUM);
    if path.is_file() {
        println!("reusing {CHROMIUM}");
        return Ok(path.to_path_buf());
    }
    println!("{CHROMIUM} is missing: installing Debian's chromium package (about 500 MB)");
    process::run(apt_get().arg("update"))?;
    process::run(apt_get().args(["install", "-y", "chromium"]))?;
    if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(format!("apt-get installed chromium but {CHROMIUM} does not exist"))
    }
}

/// `apt-get` without questions, as root (which `cargo xtask test` on CI is).
fn apt_get() -> Command {
    let mut command = Command::new("apt-get");
    command.env("DEBIAN_FRONTEND", "noninteractive").arg("-q");
    command
}
