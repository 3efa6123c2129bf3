//! The `knownpeers` binary; all logic lives in [`knownpeers_cli::cli`].
#![forbid(unsafe_code)]

fn main() {
    std::process::exit(knownpeers_cli::cli::main());
}
