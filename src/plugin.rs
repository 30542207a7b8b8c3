//! Running as a kubectl plugin: installed on the PATH as `kubectl-zerodrop` (a symlink or a
//! copy), the binary is found by kubectl and works as `kubectl zerodrop run …`.
//!
//! kubectl runs a plugin with its own path as `argv[0]` and passes the remaining arguments
//! untouched, so the binary only has to notice its name: help and usage then say `kubectl
//! zerodrop`, as kubectl's own commands would. The flags already follow kubectl's (`-n`,
//! `--context`, `--kubeconfig`, `KUBECONFIG`, `deploy/NAME`). This module only parses; it runs
//! nothing.

use std::ffi::OsString;
use std::path::Path;

use clap::{CommandFactory as _, FromArgMatches as _};

use crate::cli::Cli;

/// The executable name kubectl looks for on the PATH.
pub const PLUGIN_BIN: &str = "kubectl-zerodrop";

/// How the command calls itself in help and usage.
pub const PLUGIN_DISPLAY: &str = "kubectl zerodrop";

/// True when `argv0` names the kubectl plugin.
pub fn is_plugin(argv0: &std::ffi::OsStr) -> bool {
    Path::new(argv0)
        .file_name()
        .is_some_and(|n| n == PLUGIN_BIN || n == "kubectl-zerodrop.exe")
}

/// Parses the command line, as `kubectl zerodrop` when invoked under the plugin's name.
pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let mut cmd = Cli::command();
    if args.first().is_some_and(|a| is_plugin(a)) {
        cmd = cmd
            .name(PLUGIN_BIN)
            .bin_name(PLUGIN_DISPLAY)
            .display_name(PLUGIN_DISPLAY);
    }
    let mut matches = cmd.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut cmd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_is_recognised_by_its_file_name_wherever_it_is_installed() {
        assert!(is_plugin("/usr/local/bin/kubectl-zerodrop".as_ref()));
        assert!(is_plugin("kubectl-zerodrop".as_ref()));
        assert!(!is_plugin("/usr/bin/zerodrop".as_ref()));
        assert!(!is_plugin("kubectl-zerodrop-old".as_ref()));
    }

    #[test]
    fn usage_under_the_plugin_name_says_kubectl_zerodrop() {
        let e = parse_from(["/home/u/bin/kubectl-zerodrop", "run", "--bogus"])
            .expect_err("unknown flag");
        let text = e.render().to_string();
        assert!(text.contains("Usage: kubectl zerodrop run"), "{text}");
        let e = parse_from(["zerodrop", "run", "--bogus"]).expect_err("unknown flag");
        assert!(e.render().to_string().contains("Usage: zerodrop run"));
    }
}
