/*
 * rp_simd.h - the Cortex-M4 DSP extension (ACLE intrinsics) and its portable stand-ins.
 *
 * RP_USE_DSP is 1 where the compiler targets the DSP extension (__ARM_FEATURE_DSP: Cortex-M4,
 * M7, M33 with DSP); the kernels then take their SMLAD / SMLABB paths, elsewhere (the host)
 * their portable C loops. All of it is integer arithmetic on the same operands, so both paths
 * give the same int32 accumulators: a dual MAC wraps modulo 2^32 exactly as the portable sum
 * would, and the final sums never leave the int32 range (|int8 * int16| terms, bounded inputs).
 */
#ifndef RP_SIMD_H
#define RP_SIMD_H

#include <stdint.h>
#include <string.h>

#if defined(__ARM_FEATURE_DSP) && !defined(RP_NO_DSP)
#include <arm_acle.h>
#define RP_USE_DSP 1
#else
#define RP_USE_DSP 0
#endif

/* Four bytes from any address (one LDR on the M4, which allows unaligned word loads). */
static inline uint32_t rp_load_u32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Index of element i of an n-element int16 vector in the "pair layout" the DSP kernels use:
 * every full group of four (v0, v1, v2, v3) is stored as (v0, v2, v1, v3), so that the words
 * (v0, v2) and (v1, v3) line up with SXTB16's even and odd bytes of four int8 weights. The tail
 * (n % 4 elements) and every element on the portable path keep their places. */
static inline int32_t rp_pair_index(int32_t i, int32_t n)
{
#if RP_USE_DSP
    return (i < (n & ~3) && ((i & 3) == 1 || (i & 3) == 2)) ? (i ^ 3) : i;
#else
    (void)n;
    return i;
#endif
}

#if RP_USE_DSP
/* SXTB16 of the odd bytes: (int16)b1 | (int16)b3 << 16, one instruction (gcc 12 does not fold
 * a rotate into SXTB16's ROR #8 operand by itself). */
static inline int32_t rp_sxtb16_odd(uint32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* SXTAB16 of the odd bytes: a + (int16)b1 | (a >> 16) + (int16)b3 << 16, per halfword. */
static inline int32_t rp_sxtab16_odd(uint32_t a, uint32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}

/* Two consecutive words from a word-aligned address, which then advances by two words: one
 * LDRD with post-increment (gcc does not pair such loads by itself in the conv loops). */
static inline void rp_ldrd_inc(const uint32_t **p, uint32_t *lo, uint32_t *hi)
{
    const uint32_t *q = *p;
    uint32_t a, b;
    __asm__("ldrd %0, %1, [%2], #8" : "=r"(a), "=r"(b), "+r"(q) : "m"(*(const uint32_t(*)[2])q));
    *p = q;
    *lo = a;
    *hi = b;
}

/* Two halfwords (lo, hi) of value (v, v). */
static inline uint32_t rp_dup16(int32_t v)
{
    return ((uint32_t)v & 0xFFFFu) | ((uint32_t)v << 16);
}
#endif

/* Saturation to int16 (one SSAT on the DSP). */
static inline int32_t rp_sat16(int32_t x)
{
#if RP_USE_DSP
    int32_t r;
    __asm__("ssat %0, #16, %1" : "=r"(r) : "r"(x));
    return r;
#else
    return x < INT16_MIN ? INT16_MIN : (x > INT16_MAX ? INT16_MAX : x);
#endif
}

/* Saturation of 2x to int16, |x| < 2^30 (one SSAT with a shifted operand on the DSP). */
static inline int32_t rp_ssat16_lsl1(int32_t x)
{
#if RP_USE_DSP
    int32_t r;
    __asm__("ssat %0, #16, %1, lsl #1" : "=r"(r) : "r"(x));
    return r;
#else
    return rp_sat16(x * 2);
#endif
}

/* Saturation of x >> 14 (arithmetic) to int16 (one SSAT with a shifted operand on the DSP). */
static inline int32_t rp_sat16_asr14(int32_t x)
{
#if RP_USE_DSP
    int32_t r;
    __asm__("ssat %0, #16, %1, asr #14" : "=r"(r) : "r"(x));
    return r;
#else
    return rp_sat16(x >> 14);
#endif
}

#endif /* RP_SIMD_H */
