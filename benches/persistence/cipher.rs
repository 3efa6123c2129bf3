//! Section `cipher` of the persistence bench: the binary frame version 2 seal (ChaCha20-Poly1305
//! STREAM over 64 KiB chunks) in the save path against the cipher alone over the same chunks
//! and libsodium. Never asserts on time, only on results.

use super::*;

/// Section 6: the AEAD in the save path (binary frame version 2: ChaCha20-Poly1305 in 64 KiB
/// chunks; sealed encode minus msgpack encode, on the same entries) against the cipher alone
/// over the same chunks, in place in a pre-sized buffer of the same length, and against libsodium's when it is installed. libsodium is not linked into this process:
/// calling it needs FFI, i.e. unsafe code, which the workspace forbids; a small C program
/// (`tools/xchacha-sodium.c`) is compiled and run between the repetitions instead.
pub(crate) fn cipher(ctx: &mut Ctx<'_>) {
    let sodium = sodium_reference(ctx);
    let mut table = Table::new(
        "ChaCha20-Poly1305 STREAM (binary frame version 2)",
        &format!(
            "Seal in the save path = `SealedCodec::encode_into` minus `MsgpackCodec::encode_into` \
             of the same entries into reused buffers (both binary frame version 2: the seal is \
             64 KiB ChaCha20-Poly1305 chunks, each sealed in place while in cache). Cipher alone = \
             RustCrypto `chacha20poly1305`'s `ChaCha20Poly1305::encrypt_in_place_detached` over \
             the same 64 KiB chunks of a pre-sized buffer of the same length. libsodium = \
             `crypto_aead_chacha20poly1305_ietf_encrypt_detached` over the same chunks in place, \
             in a separate process (`tools/xchacha-sodium.c BYTES REPS 65536`), run between the \
             repetitions; {}. \
             All figures are CPU time of the measuring thread, fastest of the interleaved \
             repetitions (the seal's cost is a difference of two timings, which scheduling noise \
             swamps in wall time). Throughput in bytes of plaintext per second.",
            match &sodium {
                Ok(_) => "measured in this run".to_string(),
                Err(why) => format!("not measured in this run: {why}"),
            }
        ),
        &[
            "N",
            "body",
            "msgpack encode",
            "sealed encode",
            "seal in path",
            "cipher alone",
            "libsodium",
            "path / alone",
            "path / libsodium",
        ],
    );
    let sizes = if ctx.opts.quick {
        vec![10_000]
    } else {
        vec![ctx.opts.cap(), ctx.opts.big()]
    };
    let key = knownpeers::keys::read_key_file(&ctx.key_file).expect("the bench key file reads");
    let sealed = SealedCodec::with_key(key);
    let aead = ChaCha20Poly1305::new(&[7u8; 32].into());
    // Binary frame version 2's chunk size.
    const CHUNK: usize = 64 * 1024;
    for n in sizes {
        let reps = ctx.opts.reps(n).max(if ctx.opts.quick { 1 } else { 11 });
        let entries = gen::entries(SEED ^ 7, n);
        let mut mbuf = Vec::new();
        let mut sbuf = Vec::new();
        MsgpackCodec
            .encode_into("bench-cipher", gen::NOW, &entries, &mut mbuf)
            .expect("generated entries encode");
        let body_len = mbuf.len();
        let mut plain = vec![0x5au8; body_len];
        let s = {
            let mut competitors: Vec<Competitor<'_>> = vec![
                Box::new(|| {
                    cpu_time(|| {
                        MsgpackCodec
                            .encode_into("bench-cipher", gen::NOW, &entries, &mut mbuf)
                            .expect("generated entries encode");
                    })
                }),
                Box::new(|| {
                    cpu_time(|| {
                        sealed
                            .encode_into("bench-cipher", gen::NOW, &entries, &mut sbuf)
                            .expect("generated entries encode");
                    })
                }),
                Box::new(|| {
                    let mut tags = 0u8;
                    let d = cpu_time(|| {
                        // Version 2's STREAM nonce: a big-endian chunk counter in bytes 3..11,
                        // the last-chunk flag in byte 11.
                        let chunks = plain.len().div_ceil(CHUNK);
                        for (i, chunk) in plain.chunks_mut(CHUNK).enumerate() {
                            let mut nonce = [0u8; 12];
                            nonce[3..11].copy_from_slice(&(i as u64).to_be_bytes());
                            nonce[11] = u8::from(i + 1 == chunks);
                            let tag = aead
                                .encrypt_in_place_detached(
                                    Nonce::from_slice(&nonce),
                                    b"header",
                                    chunk,
                                )
                                .expect("a 64 KiB chunk seals");
                            tags ^= tag[0];
                        }
                    });
                    black_box(tags);
                    d
                }),
            ];
            if let Ok(bin) = &sodium {
                competitors.push(Box::new(move || run_sodium(bin, body_len, CHUNK)));
            }
            interleaved(reps, &mut competitors)
        };
        // The seal's cost in the path is a difference of two timings, which the machine's
        // noise swamps if medians of wall time are used: this section compares the fastest
        // repetitions of each one's CPU time on this thread (single-threaded, CPU-bound work).
        // When the difference is still non-positive the seal was too cheap to see; the ratio is
        // then not computed.
        let diff = s[1].min_ns() - s[0].min_ns();
        let in_path = diff.max(1.0);
        let alone = s[2].min_ns().max(1.0);
        let libsodium = s.get(3).map(|x| x.min_ns().max(1.0));
        let gbps = |ns: f64| body_len as f64 / ns; // bytes per ns = GB/s
        let rate = |ns: f64| format!("{} ({:.2} GB/s)", human_ns(ns), gbps(ns));
        let r_alone = alone / in_path;
        let r_sodium = libsodium.map(|l| l / in_path);
        table.row(vec![
            human_n(n),
            human_bytes(body_len as f64),
            human(s[0].min),
            human(s[1].min),
            if diff > 0.0 {
                rate(in_path)
            } else {
                "below noise".to_string()
            },
            rate(alone),
            libsodium.map_or("n/a".to_string(), rate),
            if diff > 0.0 {
                format!("{r_alone:.2}x")
            } else {
                "n/a".to_string()
            },
            match r_sodium {
                Some(r) if diff > 0.0 => format!("{r:.2}x"),
                _ => "n/a".to_string(),
            },
        ]);
        if n == ctx.opts.big() {
            let (value, against, reference) = match (r_sodium, libsodium) {
                (Some(r), Some(l)) => (r, "libsodium's", l),
                _ => (
                    r_alone,
                    "the cipher alone in place (libsodium not measured)",
                    alone,
                ),
            };
            ctx.report.goals.push(Goal {
                what: format!(
                    "{}: ChaCha20-Poly1305 (64 KiB chunks) throughput in the save path / {against}",
                    human_n(n)
                ),
                value,
                cmp: Cmp::AtLeast,
                target: 0.95,
                unit: "x",
                detail: format!(
                    "save path {:.2} GB/s, reference {:.2} GB/s (RustCrypto alone {:.2} GB/s)",
                    gbps(in_path),
                    gbps(reference),
                    gbps(alone)
                ),
                command: ctx.opts.command("cipher"),
            });
        }
    }
    ctx.report.tables.push(table);
}

/// Compiles `tools/xchacha-sodium.c` against libsodium into the report directory, or says why
/// it cannot.
fn sodium_reference(ctx: &Ctx<'_>) -> Result<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/xchacha-sodium.c");
    let bin = ctx.dir.join("xchacha-sodium");
    let out = std::process::Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .arg("-lsodium")
        .output()
        .map_err(|e| format!("no C compiler ({e})"))?;
    if !out.status.success() {
        return Err("libsodium is not installed (`apt-get install libsodium-dev`)".to_string());
    }
    Ok(bin)
}

/// One libsodium measurement: the fastest (CPU time) of three in-place seals of `bytes` bytes,
/// in `chunk`-byte ChaCha20-Poly1305 chunks, in a fresh process (its buffer is touched before
/// timing).
fn run_sodium(bin: &Path, bytes: usize, chunk: usize) -> Duration {
    let out = std::process::Command::new(bin)
        .arg(bytes.to_string())
        .arg("3")
        .arg(chunk.to_string())
        .output()
        .expect("the libsodium reference was just built");
    assert!(out.status.success(), "the libsodium reference failed");
    let ns: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("the libsodium reference prints nanoseconds");
    Duration::from_nanos(ns)
}
