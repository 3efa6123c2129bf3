//! The `knownpeers` command line and its demo, apart from the library so that a host depending
//! on `knownpeers` compiles none of their dependencies (clap, indicatif, tracing-subscriber).
//! This crate owns argument parsing, printing, exit codes and the demo network; it must not
//! hold any rule of the store or the format (those live in `knownpeers` and its crates) and
//! writes peer files only through `knownpeers::write_atomic`.
//!
//! The primary modules are [`cli`] (the commands; [`cli::main`] is the binary's entry point)
//! and [`demo`] (the main job: a loopback network that restarts from its peer files).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod demo;
