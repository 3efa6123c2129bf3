//! The `knownpeers` command line (DESIGN.md "CLI"): argument parsing, commands, exit codes.
//! Errors go to stderr as one line naming the file and the fix; never a secret.

/// Runs the CLI with the process's arguments; returns the exit code.
pub fn main() -> i32 {
    unimplemented!()
}
