//! The command line's grammar (DESIGN.md "CLI knownpeers"), as clap derive types, and nothing
//! else: no file is opened and no key is read here. Secrets never appear as argument values:
//! a passphrase is named by an environment variable or a file, never given on the command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use knownpeers_codecs::CodecKind;
use knownpeers_keys::KdfParams;

use crate::demo::DemoArgs;

/// Exit codes, shown at the end of `--help` (DESIGN.md's table; `Error::exit_code` maps them).
const EXIT_CODES: &str = "\
Exit codes:
  0  ok                          6  unsupported format version or codec
  1  I/O or other error          7  a FORMAT.md limit exceeded
  2  usage error                 8  policy violation
  3  corrupt file                9  not a knownpeers peer file
  4  wrong or missing key       10  locked by another process
  5  realm mismatch";

/// knownpeers: inspect, verify, export and convert known-peer files (FORMAT.md v1).
#[derive(Debug, Parser)]
#[command(name = "knownpeers", version, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Print a file's header without any key.
    ///
    /// Shows codec, version, realm, saved_at, entry count, size and KDF parameters.
    Inspect(InspectArgs),
    /// Print a file's entries as a JSON envelope (FORMAT.md json) on stdout.
    ///
    /// For a sealed file this prints the peers in plaintext: you asked for them.
    Export(ExportArgs),
    /// Rewrite a file atomically in another codec or under another key.
    ///
    /// Rekey: the same codec with a new key (--in-* names the old key). IN may be a legacy TheNodes peers.json (then --realm is required); `--to legacy` writes one (the way back to a TheNodes without knownpeers; the realm is not kept). IN and OUT may be
    /// the same file; an existing OUT is replaced atomically (only if it is a knownpeers file), under OUT's store lock (`OUT.lock`, exit 10 while a node has OUT open). Converting a sealed file with
    /// `--to json`, `--to msgpack` or `--to legacy` writes the peers in plaintext: it is allowed because you
    /// asked for it explicitly, and a warning says so.
    Convert(ConvertArgs),
    /// Fully check a file and print a one-line verdict.
    ///
    /// Checks the header, the key, the AEAD and every entry, exactly as a loading node would.
    Verify(VerifyArgs),
    /// Write a new random key file (mode 0600).
    ///
    /// Refuses to overwrite an existing file.
    Keygen(KeygenArgs),
    /// Run the demo.
    ///
    /// A loopback network of nodes that restarts and reconnects from its peer files.
    Demo(DemoArgs),
}

/// `inspect FILE [--json]`.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The peer file.
    pub file: PathBuf,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// `export FILE [--realm R] [KEY]`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The peer file.
    pub file: PathBuf,
    /// Read the file as this realm (default: the realm the file names).
    #[arg(long, value_name = "REALM")]
    pub realm: Option<String>,
    /// The key of a sealed file.
    #[command(flatten)]
    pub key: KeyArgs,
    /// The costliest Argon2id a passphrase-sealed file may make the reader run.
    #[command(flatten)]
    pub ceiling: KdfCeilingArgs,
}

/// `verify FILE [--realm R] [KEY]`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The peer file.
    pub file: PathBuf,
    /// Read the file as this realm (default: the realm the file names).
    #[arg(long, value_name = "REALM")]
    pub realm: Option<String>,
    /// The key of a sealed file.
    #[command(flatten)]
    pub key: KeyArgs,
    /// The costliest Argon2id a passphrase-sealed file may make the reader run.
    #[command(flatten)]
    pub ceiling: KdfCeilingArgs,
}

/// `keygen FILE`.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the new key file (must not exist).
    pub file: PathBuf,
}

/// `convert IN OUT --to CODEC [--format-version 1|2] [--realm R] [IN-KEY] [KEY] [KDF]`.
#[derive(Debug, Args)]
pub(crate) struct ConvertArgs {
    /// The file to read (any format, including a legacy TheNodes peers.json).
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// The file to write (replaced atomically if it exists; may be IN).
    #[arg(value_name = "OUT")]
    pub output: PathBuf,
    /// The codec to write.
    #[arg(long, value_enum, value_name = "CODEC")]
    pub to: ToCodec,
    /// The binary frame version of a msgpack or sealed OUT: 2 (default), or 1 for a node whose
    /// reader knows only version 1.
    #[arg(long, value_name = "1|2", value_parser = clap::value_parser!(u16).range(1..=2))]
    pub format_version: Option<u16>,
    /// Read IN as this realm (required for a legacy file; default: the realm IN names). OUT
    /// gets the same realm.
    #[arg(long, value_name = "REALM")]
    pub realm: Option<String>,
    /// The key of a sealed IN (default: the output key below).
    #[command(flatten)]
    pub in_key: InKeyArgs,
    /// The key to seal OUT with (`--to sealed` only; a sealed IN is also read with it when no
    /// --in-* key is given).
    #[command(flatten)]
    pub key: KeyArgs,
    /// Argon2id costs for a passphrase-sealed OUT.
    #[command(flatten)]
    pub kdf: KdfArgs,
    /// The costliest Argon2id a passphrase-sealed IN may make the reader run.
    #[command(flatten)]
    pub ceiling: KdfCeilingArgs,
}

/// The codecs `convert` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ToCodec {
    /// Pretty JSON envelope (plaintext, readable and editable).
    Json,
    /// Binary frame with a MessagePack body and CRC-32s (plaintext).
    Msgpack,
    /// Binary frame, body sealed with XChaCha20-Poly1305 (needs a key or passphrase).
    Sealed,
    /// TheNodes 0.4's own peers.json array (plaintext, no realm): the way back to a TheNodes
    /// without knownpeers, which reads a knownpeers file as no peers.
    Legacy,
}

impl ToCodec {
    /// The knownpeers codec, or `None` for TheNodes' legacy array (written by `write_legacy`).
    pub(crate) fn codec(self) -> Option<CodecKind> {
        match self {
            ToCodec::Json => Some(CodecKind::Json),
            ToCodec::Msgpack => Some(CodecKind::Msgpack),
            ToCodec::Sealed => Some(CodecKind::Sealed),
            ToCodec::Legacy => None,
        }
    }

    /// The name `--to` takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ToCodec::Json => "json",
            ToCodec::Msgpack => "msgpack",
            ToCodec::Sealed => "sealed",
            ToCodec::Legacy => "legacy",
        }
    }
}

/// KEY: at most one key source.
#[derive(Debug, Args)]
#[group(id = "key", multiple = false)]
pub(crate) struct KeyArgs {
    /// A key file written by `knownpeers keygen` (must be mode 0600).
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// The name of an environment variable holding the passphrase.
    #[arg(long, value_name = "VAR")]
    pub passphrase_env: Option<String>,
    /// A file holding the passphrase (one trailing newline is ignored).
    #[arg(long, value_name = "PATH")]
    pub passphrase_file: Option<PathBuf>,
}

/// IN-KEY: KEY with an `--in-` prefix, for the file `convert` reads.
#[derive(Debug, Args)]
#[group(id = "in-key", multiple = false)]
pub(crate) struct InKeyArgs {
    /// A key file for a sealed IN.
    #[arg(long, value_name = "PATH")]
    pub in_key_file: Option<PathBuf>,
    /// The name of an environment variable holding IN's passphrase.
    #[arg(long, value_name = "VAR")]
    pub in_passphrase_env: Option<String>,
    /// A file holding IN's passphrase.
    #[arg(long, value_name = "PATH")]
    pub in_passphrase_file: Option<PathBuf>,
}

/// KDF: Argon2id costs a writer uses. `None` means the default; the writer refuses values
/// below its minimum (m = 19456 KiB with t = 2).
#[derive(Debug, Args)]
pub(crate) struct KdfArgs {
    /// Argon2id memory in KiB [default: 65536; minimum 19456].
    #[arg(long, value_name = "KIB")]
    pub kdf_m_kib: Option<u32>,
    /// Argon2id iterations [default: 3; minimum 2].
    #[arg(long, value_name = "N")]
    pub kdf_t: Option<u32>,
    /// Argon2id lanes [default: 4].
    #[arg(long, value_name = "N")]
    pub kdf_p: Option<u32>,
}

impl KdfArgs {
    /// Whether any KDF flag was given.
    pub fn any(&self) -> bool {
        self.kdf_m_kib.is_some() || self.kdf_t.is_some() || self.kdf_p.is_some()
    }

    /// The parameters, defaults filled in (not yet checked).
    pub fn params(&self) -> KdfParams {
        or_default(self.kdf_m_kib, self.kdf_t, self.kdf_p)
    }
}

/// The reader's KDF ceiling: the costliest Argon2id parameters a passphrase-sealed file may
/// make the command run. `None` means the default, [`KdfParams::DEFAULT`]'s costs: whoever
/// can write a file must not be able to make reading it cost half a minute and a gigabyte.
#[derive(Debug, Args)]
pub(crate) struct KdfCeilingArgs {
    /// Most Argon2id memory (KiB) a file read may ask for [default: 65536; at most 1048576].
    #[arg(long, value_name = "KIB")]
    pub kdf_max_m_kib: Option<u32>,
    /// Most Argon2id iterations a file read may ask for [default: 3; at most 10].
    #[arg(long, value_name = "N")]
    pub kdf_max_t: Option<u32>,
    /// Most Argon2id lanes a file read may ask for [default: 4; at most 16].
    #[arg(long, value_name = "N")]
    pub kdf_max_p: Option<u32>,
}

impl KdfCeilingArgs {
    /// The ceiling, defaults filled in (checked against FORMAT.md's bounds by the codec).
    pub fn params(&self) -> KdfParams {
        or_default(self.kdf_max_m_kib, self.kdf_max_t, self.kdf_max_p)
    }
}

/// Argon2id costs from three optional flags, each defaulting to [`KdfParams::DEFAULT`]'s.
fn or_default(m_cost_kib: Option<u32>, t_cost: Option<u32>, p_cost: Option<u32>) -> KdfParams {
    KdfParams {
        m_cost_kib: m_cost_kib.unwrap_or(KdfParams::DEFAULT.m_cost_kib),
        t_cost: t_cost.unwrap_or(KdfParams::DEFAULT.t_cost),
        p_cost: p_cost.unwrap_or(KdfParams::DEFAULT.p_cost),
    }
}

/// One key source, whichever flag family named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySpec {
    /// A key file.
    KeyFile(PathBuf),
    /// A passphrase in an environment variable.
    PassphraseEnv(String),
    /// A passphrase in a file.
    PassphraseFile(PathBuf),
}

impl KeySpec {
    /// Whether this source is a passphrase (so KDF parameters apply).
    pub fn is_passphrase(&self) -> bool {
        !matches!(self, KeySpec::KeyFile(_))
    }
}

impl KeyArgs {
    /// The key source given, if any (clap's group guarantees at most one).
    pub fn spec(&self) -> Option<KeySpec> {
        key_spec(&self.key_file, &self.passphrase_env, &self.passphrase_file)
    }
}

impl InKeyArgs {
    /// The key source given, if any (clap's group guarantees at most one).
    pub fn spec(&self) -> Option<KeySpec> {
        key_spec(
            &self.in_key_file,
            &self.in_passphrase_env,
            &self.in_passphrase_file,
        )
    }
}

fn key_spec(
    key_file: &Option<PathBuf>,
    passphrase_env: &Option<String>,
    passphrase_file: &Option<PathBuf>,
) -> Option<KeySpec> {
    if let Some(path) = key_file {
        Some(KeySpec::KeyFile(path.clone()))
    } else if let Some(var) = passphrase_env {
        Some(KeySpec::PassphraseEnv(var.clone()))
    } else {
        passphrase_file
            .as_ref()
            .map(|path| KeySpec::PassphraseFile(path.clone()))
    }
}
