//! Running child programs the same way everywhere: echo the command, then judge its exit status.

use std::{
    env,
    ffi::OsString,
    process::{Command, ExitStatus},
};

use crate::Repo;

/// A `cargo` command run from the repository root, with the cargo that runs xtask.
pub(crate) fn cargo(repo: &Repo) -> Command {
    let program = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(program);
    command.current_dir(repo.root());
    command
}

/// Runs a command to completion with inherited output.
///
/// # Errors
///
/// The command could not start, or it exited unsuccessfully.
pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    let status = status(command)?;
    check(command, status)
}

/// Runs a command to completion with inherited output and returns its status, printing it first.
///
/// # Errors
///
/// The command could not start.
pub(crate) fn status(command: &mut Command) -> Result<ExitStatus, String> {
    println!("$ {}", describe(command));
    command.status().map_err(|error| format!("cannot start `{}`: {error}", program(command)))
}

/// An error unless the status says the command succeeded.
///
/// # Errors
///
/// The status is unsuccessful; the message names the program and how it ended.
pub(crate) fn check(command: &Command, status: ExitStatus) -> Result<(), String> {
    if status.success() { Ok(()) } else { Err(format!("`{}` {}", task(command), ending(status))) }
}

/// How a process ended, for messages: "exited with code 1" or "was ended by a signal".
pub(crate) fn ending(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("exited with code {code}"),
        None => "was ended by a signal".to_owned(),
    }
}

/// The command line, for the log; arguments with spaces are quoted.
pub(crate) fn describe(command: &Command) -> String {
    let mut line = program(command);
    for argument in command.get_args() {
        let argument = argument.to_string_lossy();
        line.push(' ');
        if argument.is_empty() || argument.contains(char::is_whitespace) {
            line.push('\'');
            line.push_str(&argument);
            line.push('\'');
        } else {
            line.push_str(&argument);
        }
    }
    line
}

/// The program's file name, without the directories before it.
fn program(command: &Command) -> String {
    let program = std::path::Path::new(command.get_program());
    program.file_name().unwrap_or(program.as_os_str()).to_string_lossy().into_owned()
}

/// The program and what it was asked to do, for verdicts: `cargo test`, `python -m pytest`.
fn task(command: &Command) -> String {
    let mut words = program(command);
    let mut arguments = command.get_args().map(|argument| argument.to_string_lossy());
    match arguments.next() {
        Some(module) if module == "-m" => {
            words.push_str(" -m ");
            words.push_str(&arguments.next().unwrap_or_default());
        }
        Some(subcommand) if !subcommand.starts_with('-') => {
            words.push(' ');
            words.push_str(&subcommand);
        }
        _ => {}
    }
    words
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::{describe, task};

    #[test]
    fn described_command_names_program_without_directories() {
        let mut command = Command::new("/work/.venv/bin/python");
        command.args(["-m", "pytest", "two words", ""]);
        assert_eq!(describe(&command), "python -m pytest 'two words' ''");
    }

    #[test]
    fn task_names_program_and_subcommand_or_module() {
        let mut cargo = Command::new("cargo");
        cargo.args(["test", "--workspace"]);
        assert_eq!(task(&cargo), "cargo test");
        let mut pytest = Command::new("/work/.venv/bin/python");
        pytest.args(["-m", "pytest", "tests"]);
        assert_eq!(task(&pytest), "python -m pytest");
        let mut server = Command::new("moto_server");
        server.args(["-H", "127.0.0.1"]);
        assert_eq!(task(&server), "moto_server");
    }
}
