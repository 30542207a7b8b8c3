//! `zerodrop completions bash|zsh|fish`: prints the shell completion script for zerodrop's
//! commands and flags, generated from the same clap definitions the parser uses.

use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::cli::CompletionsArgs;

/// The completion script for `shell` under the name `bin` (`zerodrop`, or `kubectl-zerodrop`).
pub fn script(shell: Shell, bin: &str) -> String {
    let mut cmd = crate::cli::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, bin, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Prints the script; returns the exit code.
pub fn run(args: CompletionsArgs) -> u8 {
    let shell = match args.shell.as_str() {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        _ => Shell::Fish,
    };
    print!("{}", script(shell, "zerodrop"));
    crate::model::exit::PASSED
}
