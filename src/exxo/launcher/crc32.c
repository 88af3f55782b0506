/* CRC-32 of the zip format (polynomial 0x04C11DB7, bit-reflected), as zlib's crc32() computes it, but by
 * carry-less multiplication (PCLMULQDQ) when the processor has it: every member the binary reads is checked
 * against its CRC (the boot's bytecode, data, native code; the file-system view's memfds), and zlib's table
 * code costs ~3.8 instructions a byte -- 25M instructions, 3% of a Flask app's start, for its 6.6 MB of
 * bytecode. Folding 64 bytes per step costs ~0.2. Processors without PCLMULQDQ/SSE4.1 (or buffers under 64
 * bytes) use zlib.
 *
 * The method is the one Intel published ("Fast CRC Computation for Generic Polynomials Using PCLMULQDQ"): the
 * data is kept as four 128-bit lanes; each step multiplies a lane by x^512 mod P (split over its two halves)
 * and adds the next 64 bytes; the lanes are then folded into one by x^128 mod P, and that one is reduced to
 * 32 bits (x^64 mod P, then a Barrett reduction). The constants below are those powers of x mod P, in the
 * reflected bit order the folding works in (each is bit-reflected over 32 bits and shifted left by one);
 * tests/unit/test_crc32.py derives every one of them from the polynomial, and tests/integration checks this
 * function against zlib.crc32 on every length from 0 to 300 and at random offsets.
 *
 * On aarch64 the same CRC is one ARMv8 instruction per 8 bytes (CRC32X, the zip polynomial: ARMv8.1 makes it
 * mandatory, most ARMv8.0 cores have it), used when the kernel reports HWCAP_CRC32; otherwise zlib.
 */
#if defined(__aarch64__)
#include <arm_acle.h>
#include <stdint.h>
#include <string.h>
#include <sys/auxv.h>
#include <zlib.h>

#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif

static int exxo_crc_simd = -1; /* -1: not probed yet */

/* The CRC register (zlib's complemented state) after `n` bytes. */
__attribute__((target("crc"))) static uint32_t
exxo_crc_arm(uint32_t state, const unsigned char *p, size_t n)
{
    for (; n > 0 && ((uintptr_t)p & 7); p++, n--) {
        state = __crc32b(state, *p);
    }
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        state = __crc32d(state, word);
    }
    for (; n > 0; p++, n--) {
        state = __crc32b(state, *p);
    }
    return state;
}

/* zlib's crc32(crc, p, n), fast. */
static unsigned long
exxo_crc32(unsigned long crc, const unsigned char *p, size_t n)
{
    if (exxo_crc_simd < 0) {
        exxo_crc_simd = (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
    }
    if (exxo_crc_simd) {
        return ~exxo_crc_arm(~(uint32_t)crc, p, n) & 0xffffffffUL;
    }
    while (n > 0) { /* zlib takes uInt lengths */
        uInt chunk = n > (1U << 30) ? (1U << 30) : (uInt)n;
        crc = crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return crc;
}
#else /* x86-64 */
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <zlib.h>

#define EXXO_CRC_X544 0x154442bd4ULL /* x^(4*128+32) mod P: a lane forward by 512 bits, its low half */
#define EXXO_CRC_X480 0x1c6e41596ULL /* x^(4*128-32) mod P: ... its high half */
#define EXXO_CRC_X160 0x1751997d0ULL /* x^(128+32) mod P: forward by 128 bits, low half */
#define EXXO_CRC_X96 0x0ccaa009eULL  /* x^(128-32) mod P: ... high half */
#define EXXO_CRC_X64 0x163cd6124ULL  /* x^64 mod P: 64 bits to 32 */
#define EXXO_CRC_POLY 0x1db710641ULL /* P itself, reflected (33 bits) */
#define EXXO_CRC_MU 0x1f7011641ULL   /* floor(x^64 / P), reflected: the Barrett constant */

static int exxo_crc_simd = -1; /* -1: not probed yet */

static int
exxo_crc_has_clmul(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) {
        return 0;
    }
    return (c & bit_PCLMUL) && (c & bit_SSE4_1);
}

/* `acc` moved forward over the distance whose two constants `k` holds (low half of acc times the low one,
 * high half times the high one), plus `next`. */
__attribute__((target("pclmul,sse4.1"))) static inline __m128i
exxo_crc_fold(__m128i acc, __m128i k, __m128i next)
{
    __m128i low = _mm_clmulepi64_si128(acc, k, 0x00);
    __m128i high = _mm_clmulepi64_si128(acc, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(low, high), next);
}

/* The CRC register (zlib's complemented state) after `n` bytes, n >= 64 and a multiple of 16. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t
exxo_crc_clmul(uint32_t state, const unsigned char *p, size_t n)
{
    const __m128i by512 = _mm_set_epi64x((long long)EXXO_CRC_X480, (long long)EXXO_CRC_X544);
    const __m128i by128 = _mm_set_epi64x((long long)EXXO_CRC_X96, (long long)EXXO_CRC_X160);
    const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);
    __m128i lane0 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)state));
    __m128i lane1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i lane2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i lane3 = _mm_loadu_si128((const __m128i *)(p + 48));
    p += 64;
    n -= 64;
    for (; n >= 64; p += 64, n -= 64) {
        lane0 = exxo_crc_fold(lane0, by512, _mm_loadu_si128((const __m128i *)p));
        lane1 = exxo_crc_fold(lane1, by512, _mm_loadu_si128((const __m128i *)(p + 16)));
        lane2 = exxo_crc_fold(lane2, by512, _mm_loadu_si128((const __m128i *)(p + 32)));
        lane3 = exxo_crc_fold(lane3, by512, _mm_loadu_si128((const __m128i *)(p + 48)));
    }
    __m128i acc = exxo_crc_fold(exxo_crc_fold(exxo_crc_fold(lane0, by128, lane1), by128, lane2), by128, lane3);
    for (; n >= 16; p += 16, n -= 16) {
        acc = exxo_crc_fold(acc, by128, _mm_loadu_si128((const __m128i *)p));
    }
    /* 128 bits to 64: the low half times x^96, added to the high half. */
    acc = _mm_xor_si128(_mm_srli_si128(acc, 8), _mm_clmulepi64_si128(acc, by128, 0x10));
    /* 64 bits to 32: the low 32 bits times x^64, added to the rest. */
    const __m128i by64 = _mm_set_epi64x(0, (long long)EXXO_CRC_X64);
    acc = _mm_xor_si128(_mm_srli_si128(acc, 4), _mm_clmulepi64_si128(_mm_and_si128(acc, low32), by64, 0x00));
    /* Barrett: q = low32(acc) * mu, r = acc + low32(q) * P; the CRC is r's second 32-bit word. */
    const __m128i barrett = _mm_set_epi64x((long long)EXXO_CRC_MU, (long long)EXXO_CRC_POLY);
    __m128i q = _mm_and_si128(_mm_clmulepi64_si128(_mm_and_si128(acc, low32), barrett, 0x10), low32);
    acc = _mm_xor_si128(acc, _mm_clmulepi64_si128(q, barrett, 0x00));
    return (uint32_t)_mm_extract_epi32(acc, 1);
}

/* zlib's crc32(crc, p, n), fast. */
static unsigned long
exxo_crc32(unsigned long crc, const unsigned char *p, size_t n)
{
    if (exxo_crc_simd < 0) {
        exxo_crc_simd = exxo_crc_has_clmul();
    }
    if (exxo_crc_simd && n >= 64) {
        size_t bulk = n & ~(size_t)15;
        crc = ~exxo_crc_clmul(~(uint32_t)crc, p, bulk) & 0xffffffffUL;
        p += bulk;
        n -= bulk;
    }
    while (n > 0) { /* zlib takes uInt lengths */
        uInt chunk = n > (1U << 30) ? (1U << 30) : (uInt)n;
        crc = crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return crc;
}
#endif /* x86-64 */
