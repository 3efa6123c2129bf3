//! The `knownpeers` binary; all logic lives in [`knownpeers::cli`].
#![forbid(unsafe_code)]

fn main() {
    std::process::exit(knownpeers::cli::main());
}
