//! The five file commands: `inspect`, `export`, `verify`, `convert`, `keygen`. Each returns
//! `Ok` or one [`Failure`]; none prints an error itself, panics, or writes a peer file other
//! than through the one atomic saver (`knownpeers::write_atomic`). Keys are loaded only when the file is sealed, and are
//! dropped (zeroized) when the command returns.

use std::path::Path;
use std::sync::Arc;

use knownpeers_codecs::{
    detect, plaintext_codec_with_version, Codec, CodecKind, Decoded, Format, FrameVersion, Header,
    JsonCodec, KdfInfo,
};
use knownpeers_keys::{KdfParams, Key};

use super::args::{
    ConvertArgs, ExportArgs, InspectArgs, KdfCeilingArgs, KeySpec, KeygenArgs, ToCodec, VerifyArgs,
};
use super::error::{Failure, KeyFlags};
use super::io::{emit, now_secs, open_regular, read_input, regular_metadata, rfc3339_utc, Input};
use super::read::{decode, format_name, reader_codec, sealed_codec};
use super::text::{safe, safe_json, safe_path};

/// `inspect FILE`: the header, without any key.
pub(crate) fn inspect(args: &InspectArgs) -> Result<(), Failure> {
    let input = read_input(&args.file)?;
    let header = knownpeers_codecs::inspect(&input.bytes)
        .map_err(|e| Failure::format(&input.path, e, KeyFlags::Plain))?;
    let mut text = if args.json {
        inspect_json(&input.path, &header)?
    } else {
        inspect_lines(&input.path, &header)
    };
    text.push('\n');
    emit(text.as_bytes())
}

fn inspect_lines(path: &Path, h: &Header) -> String {
    let realm = match &h.realm {
        Some(r) => safe(r).into_owned(),
        None => "(none: a legacy file is read as the realm --realm names)".to_string(),
    };
    let saved_at = match h.saved_at {
        Some(s) => format!("{s} ({})", rfc3339_utc(s)),
        None => "(not recorded)".to_string(),
    };
    let mut lines = vec![
        format!("file:     {}", safe_path(path)),
        format!("codec:    {}", format_name(h.format)),
        match h.format {
            Format::Legacy => "version:  (none: a legacy TheNodes peers.json)".to_string(),
            Format::Json => format!("version:  {} (JSON envelope)", h.version),
            _ => format!("version:  {} (binary frame)", h.version),
        },
        format!("realm:    {realm}"),
        format!("saved_at: {saved_at}"),
        format!("entries:  {}", h.entry_count),
        format!("size:     {} bytes", h.file_len),
    ];
    match h.kdf {
        Some(KdfInfo::KeyFile) => lines.push("kdf:      none (raw 32-byte key file)".to_string()),
        Some(KdfInfo::Argon2id(p)) => lines.push(format!(
            "kdf:      argon2id v1.3, m_cost {} KiB, t_cost {}, p_cost {}{}",
            p.m_cost_kib,
            p.t_cost,
            p.p_cost,
            // inspect reports, it does not refuse; but a reader will, so say so.
            if p.check_bounds().is_err() {
                " (outside FORMAT.md's reader bounds: every reader refuses this file)"
            } else if p.m_cost_kib > KdfParams::DEFAULT.m_cost_kib
                || p.t_cost > KdfParams::DEFAULT.t_cost
                || p.p_cost > KdfParams::DEFAULT.p_cost
            {
                " (over the default reader ceiling m 65536, t 3, p 4: read it with --kdf-max-*)"
            } else {
                ""
            }
        )),
        None => {}
    }
    lines.join("\n")
}

fn inspect_json(path: &Path, h: &Header) -> Result<String, Failure> {
    let kdf = match h.kdf {
        Some(KdfInfo::KeyFile) => serde_json::json!({ "kind": "key_file" }),
        Some(KdfInfo::Argon2id(p)) => serde_json::json!({
            "kind": "argon2id",
            "m_cost_kib": p.m_cost_kib,
            "t_cost": p.t_cost,
            "p_cost": p.p_cost,
        }),
        None => serde_json::Value::Null,
    };
    let value = serde_json::json!({
        "file": path.display().to_string(),
        "codec": format_name(h.format),
        "version": h.version,
        "realm": h.realm,
        "saved_at": h.saved_at,
        "entry_count": h.entry_count,
        "file_len": h.file_len,
        "kdf": kdf,
    });
    serde_json::to_string_pretty(&value)
        .map(safe_json)
        .map_err(|e| Failure::other(format!("inspect: {e}")))
}

/// The key to read `input` with: loaded only when the file is sealed, so a plaintext file
/// never makes the CLI read a key file or a passphrase it does not need.
fn input_key(
    input: &Input,
    spec: Option<&KeySpec>,
    ceiling: &KdfCeilingArgs,
    flags: KeyFlags,
) -> Result<Option<knownpeers_codecs::SealedCodec>, Failure> {
    match (detect(&input.bytes), spec) {
        (Ok(Format::Sealed), Some(spec)) => Ok(Some(reader_codec(spec, ceiling.params(), flags)?)),
        _ => Ok(None),
    }
}

/// What `export` and `verify` share: check `--realm`, read FILE, and decode it as `realm` with
/// its key (when it is sealed and a key was given). The key lives only as long as the decode.
fn read_and_decode(
    file: &Path,
    realm: Option<&str>,
    spec: Option<&KeySpec>,
    ceiling: &KdfCeilingArgs,
) -> Result<(Input, Decoded), Failure> {
    check_realm_arg(realm)?;
    let input = read_input(file)?;
    let decoded = {
        let key = input_key(&input, spec, ceiling, KeyFlags::Plain)?;
        decode(&input, realm, key.as_ref(), KeyFlags::Plain)?
    };
    Ok((input, decoded))
}

/// `--realm`, when given, is a realm a file could hold: 1 to 255 bytes (an empty one would
/// let a legacy file "verify" as a realm no store can have).
fn check_realm_arg(realm: Option<&str>) -> Result<(), Failure> {
    match realm {
        Some(r) if r.is_empty() || r.len() > knownpeers_codecs::MAX_REALM_LEN => {
            Err(Failure::usage(format!(
                "--realm must be 1 to {} bytes long",
                knownpeers_codecs::MAX_REALM_LEN
            )))
        }
        _ => Ok(()),
    }
}

/// `export FILE`: the entries as a FORMAT.md JSON envelope on stdout.
pub(crate) fn export(args: &ExportArgs) -> Result<(), Failure> {
    let (input, decoded) = read_and_decode(
        &args.file,
        args.realm.as_deref(),
        args.key.spec().as_ref(),
        &args.ceiling,
    )?;
    let mut out = JsonCodec
        .encode(
            &decoded.file.realm,
            decoded.file.saved_at,
            &decoded.file.entries,
        )
        .map_err(|e| Failure::format(&input.path, e, KeyFlags::Plain))?;
    if out.last() != Some(&b'\n') {
        out.push(b'\n');
    }
    // The encoder's output is UTF-8 JSON; DEL, C1 and bidi characters in strings become
    // \uXXXX escapes (the same strings to any JSON reader), so a terminal is safe.
    let text = String::from_utf8(out).map_err(|_| Failure::other("export: JSON not UTF-8"))?;
    emit(safe_json(text).as_bytes())
}

/// `verify FILE`: every check FORMAT.md's reader makes, then a one-line verdict.
pub(crate) fn verify(args: &VerifyArgs) -> Result<(), Failure> {
    let (input, decoded) = read_and_decode(
        &args.file,
        args.realm.as_deref(),
        args.key.spec().as_ref(),
        &args.ceiling,
    )?;
    let line = format!(
        "ok: {}: codec {}, realm {}, {} entries\n",
        safe_path(&input.path),
        format_name(decoded.format),
        safe(&decoded.file.realm),
        decoded.file.entries.len()
    );
    emit(line.as_bytes())
}

/// `convert IN OUT --to CODEC`: read IN whole, then replace OUT atomically.
pub(crate) fn convert(args: &ConvertArgs) -> Result<(), Failure> {
    let to = args.to;
    let sealed = to == ToCodec::Sealed;
    let out_spec = args.key.spec();
    // The output key doubles as the input key unless an --in-* key is given; hints about IN's
    // key always name the --in-* flags, the unambiguous way to give it.
    let in_spec = args.in_key.spec().or_else(|| out_spec.clone());
    let in_flags = KeyFlags::In;

    // Every usage check before any I/O or key work.
    if sealed && out_spec.is_none() {
        return Err(Failure::usage(
            "--to sealed needs a key for OUT: pass --key-file PATH (create one with `knownpeers \
             keygen PATH`), --passphrase-env VAR or --passphrase-file PATH",
        ));
    }
    let out_is_passphrase = out_spec.as_ref().is_some_and(KeySpec::is_passphrase);
    if args.kdf.any() && !(sealed && out_is_passphrase) {
        return Err(Failure::usage(
            "--kdf-m-kib, --kdf-t and --kdf-p apply only to --to sealed with a passphrase \
             (--passphrase-env or --passphrase-file); remove them",
        ));
    }
    if args.format_version.is_some() && !matches!(to, ToCodec::Msgpack | ToCodec::Sealed) {
        return Err(Failure::usage(
            "--format-version applies only to --to msgpack or --to sealed (the JSON envelope and \
             TheNodes' array have one version); remove it",
        ));
    }
    let version = match args.format_version {
        None => FrameVersion::LATEST,
        Some(n) => FrameVersion::from_number(n).expect("clap allows only 1 and 2"),
    };
    let params = args.kdf.params();
    if sealed && out_is_passphrase {
        params
            .check_bounds()
            .and_then(|()| params.check_writer_minimum())
            .map_err(|e| {
                Failure::usage(format!(
                    "{e}; pass at least --kdf-m-kib 19456 --kdf-t 2 (defaults: 65536, 3, 4)"
                ))
            })?;
    }
    check_realm_arg(args.realm.as_deref())?;

    let input = read_input(&args.input)?;
    // The input key lives only as long as the read.
    let decoded = {
        let in_key = input_key(&input, in_spec.as_ref(), &args.ceiling, in_flags)?;
        decode(&input, args.realm.as_deref(), in_key.as_ref(), in_flags)?
    };

    check_replaceable(&args.output)?;
    // A node that has OUT open holds its lock and would overwrite OUT on its next save: refuse
    // (exit 10) rather than race it. The lock file stays, as the store's lock files do.
    let _lock = knownpeers::StoreLock::acquire(&args.output)
        .map_err(|e| Failure::from_error(&e, KeyFlags::Plain))?;
    // Under the lock no save of OUT is live, so a `.OUT.tmp.*` is what a killed convert or
    // node left behind (a full-size copy, sealed or not): remove it, as a store's open does.
    knownpeers::remove_stale_temps(&args.output)
        .map_err(|e| Failure::from_error(&e, KeyFlags::Plain))?;

    let codec: Option<Arc<dyn Codec>> = match to.codec() {
        None => None,
        Some(CodecKind::Sealed) => {
            let spec = out_spec
                .as_ref()
                .expect("checked above: --to sealed has an output key");
            Some(Arc::new(
                sealed_codec(spec, params, KeyFlags::Plain)?.with_frame_version(version),
            ))
        }
        Some(kind) => plaintext_codec_with_version(kind, version),
    };
    let encoded = match codec {
        Some(codec) => codec.encode(&decoded.file.realm, now_secs(), &decoded.file.entries),
        // TheNodes' own array: no realm, no saved_at.
        None => knownpeers_codecs::write_legacy(&decoded.file.entries),
    };
    let bytes = encoded.map_err(|e| Failure::format(&args.output, e, KeyFlags::Plain))?;
    knownpeers::write_atomic(&args.output, &bytes)
        .map_err(|e| Failure::from_error(&e, KeyFlags::Plain))?;

    if decoded.format == Format::Sealed && !sealed {
        super::warn(&format!(
            "{}: written in plaintext as you asked (--to {}); its peers are no longer encrypted \
             on disk",
            safe_path(&args.output),
            to.name()
        ));
    }
    let written = match to {
        ToCodec::Msgpack | ToCodec::Sealed => format!("{}, version {version}", to.name()),
        ToCodec::Json | ToCodec::Legacy => to.name().to_string(),
    };
    let line = format!(
        "converted {} ({}, realm {}, {} entries) to {} ({written})\n",
        safe_path(&input.path),
        format_name(decoded.format),
        safe(&decoded.file.realm),
        decoded.file.entries.len(),
        safe_path(&args.output),
    );
    emit(line.as_bytes())
}

/// An existing OUT is replaced only when it is a knownpeers file (or absent): a mistyped OUT
/// must not atomically destroy an unrelated file such as a private key. Runs before the lock is
/// taken, so a refused OUT (a directory, say) gets no `.lock` file beside it.
fn check_replaceable(out: &Path) -> Result<(), Failure> {
    use std::io::Read;

    let file = match open_regular(out) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A new OUT: its directory must exist (checked here so the error names it, not
            // the lock file).
            return match out.parent().filter(|p| !p.as_os_str().is_empty()) {
                Some(dir) if !dir.is_dir() => Err(Failure::io(
                    dir,
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "OUT's directory does not exist; create it first",
                    ),
                )),
                _ => Ok(()),
            };
        }
        Err(e) => return Err(Failure::io(out, e)),
    };
    regular_metadata(out, &file)?;
    // Enough for the frame magic or JSON's first non-blank byte after a reasonable indent.
    let mut head = Vec::with_capacity(4096);
    file.take(4096)
        .read_to_end(&mut head)
        .map_err(|e| Failure::io(out, e))?;
    match detect(&head) {
        Ok(_) => Ok(()),
        Err(source) => {
            let code = knownpeers::Error::Format {
                path: out.to_path_buf(),
                source,
            }
            .exit_code();
            Err(Failure::coded(
                code,
                format!(
                    "{}: exists and is not a knownpeers peer file; refusing to replace it \
                     (remove it or choose another OUT)",
                    safe_path(out)
                ),
            ))
        }
    }
}

/// `keygen FILE`: a fresh random key, written mode 0600 with `create_new`.
pub(crate) fn keygen(args: &KeygenArgs) -> Result<(), Failure> {
    let key = Key::generate().map_err(|e| Failure::key(e, KeyFlags::Plain))?;
    knownpeers_keys::write_key_file(&args.file, &key)
        .map_err(|e| Failure::key(e, KeyFlags::Plain))?;
    let line = format!(
        "wrote key file {} (mode 0600); keep it secret and back it up: sealed files cannot be \
         read without it\n",
        safe_path(&args.file)
    );
    emit(line.as_bytes())
}
