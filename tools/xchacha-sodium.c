/* libsodium's AEADs, timed, as the reference of the persistence bench's cipher section
 * (benches/persistence/cipher.rs): XChaCha20-Poly1305 (IETF construction) over the whole buffer, the
 * binary frame version 1 seal; or, given CHUNK, ChaCha20-Poly1305 (IETF, RFC 8439) over
 * CHUNK-byte chunks with a counter-and-last-flag nonce, the version 2 STREAM seal. Detached
 * tags, sealed in place. The bench compiles and runs this only when libsodium is installed
 * (`apt-get install libsodium-dev`): calling libsodium from Rust would need FFI, i.e. unsafe
 * code, which the workspace forbids.
 *
 * Usage: xchacha-sodium BYTES REPS [CHUNK]
 * Prints the fastest CPU time (CLOCK_THREAD_CPUTIME_ID, in nanoseconds) of one in-place seal of
 * BYTES bytes over REPS repetitions, as the Rust side measures its own. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s BYTES REPS [CHUNK]\n", argv[0]);
        return 2;
    }
    size_t chunk = argc == 4 ? strtoull(argv[3], NULL, 10) : 0;
    if (sodium_init() < 0) {
        fprintf(stderr, "sodium_init failed\n");
        return 1;
    }
    size_t n = strtoull(argv[1], NULL, 10);
    int reps = atoi(argv[2]);
    if (n == 0 || reps < 1) {
        fprintf(stderr, "BYTES and REPS must be positive\n");
        return 2;
    }
    unsigned char *buf = malloc(n);
    long long *t = malloc((size_t)reps * sizeof *t);
    if (buf == NULL || t == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    /* Touch every page before timing, as the Rust side's pre-sized buffer is. */
    memset(buf, 0x5a, n);
    unsigned char key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
    unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
    unsigned char mac[crypto_aead_xchacha20poly1305_ietf_ABYTES];
    static const unsigned char ad[] = "header";
    memset(key, 7, sizeof key);
    memset(nonce, 9, sizeof nonce);
    for (int i = 0; i < reps; i++) {
        struct timespec a, b;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        if (chunk == 0) {
            crypto_aead_xchacha20poly1305_ietf_encrypt_detached(buf, mac, NULL, buf, n, ad,
                                                                sizeof ad - 1, NULL, nonce, key);
        } else {
            unsigned char cnonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
            for (size_t at = 0, i = 0; at < n; at += chunk, i++) {
                size_t len = n - at < chunk ? n - at : chunk;
                memset(cnonce, 0, sizeof cnonce);
                for (int b = 0; b < 8; b++) {
                    cnonce[10 - b] = (unsigned char)(i >> (8 * b));
                }
                cnonce[11] = at + len == n;
                crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf + at, mac, NULL, buf + at,
                                                                   len, ad, sizeof ad - 1, NULL,
                                                                   cnonce, key);
            }
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        t[i] = (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    printf("%lld\n", t[0]);
    free(t);
    free(buf);
    return 0;
}
