// ggml-style AVX2 dot products (block formats as in ggml-common.h), to compare EdgeLM's Swift kernels with.
// The logic follows ggml/src/ggml-cpu/arch/x86/quants.c (maddubs/madd integer block sums, one fma per block);
// K-quant scales are broadcast with set1 instead of ggml's shuffle tables. Prints the same table format as
// `kernel-bench`: ns per dot (n = 4096, hot in L1) and single-thread matvec GB/s at model shapes.
//
//   make && ./c-dots [runs] [cpu]     (cpu: time with CLOCK_THREAD_CPUTIME_ID instead of the wall clock)
#define _POSIX_C_SOURCE 199309L
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef uint16_t half;
typedef struct { half d; uint8_t qs[16]; } block_q4_0;
typedef struct { half d, m; uint8_t qs[16]; } block_q4_1;
typedef struct { half d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0;
typedef struct { half d; int8_t qs[32]; } block_q8_0;
typedef struct { half d, s; int8_t qs[32]; } block_q8_1;
typedef struct { half d, dmin; uint8_t scales[12]; uint8_t qs[128]; } block_q4_K;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; half d; } block_q6_K;
typedef struct { float d; int8_t qs[256]; int16_t bsums[16]; } block_q8_K;

static inline float h2f(half h) { return _cvtsh_ss(h); }

static inline float hsum_float_8(__m256 x) {
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}
static inline __m256i nibbles32(const uint8_t *p) {  // low nibbles → bytes 0..15, high → 16..31
    __m128i t = _mm_loadu_si128((const __m128i *)p);
    __m256i b = _mm256_insertf128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0F));
}
static inline __m256 pairs_to_float(__m256i p16) { return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1))); }
static inline __m256 mul_us8(__m256i ux, __m256i sy) { return pairs_to_float(_mm256_maddubs_epi16(ux, sy)); }
static inline __m256 mul_s8(__m256i x, __m256i y) { return mul_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x)); }
static inline __m256i bits32(const uint8_t *p) {  // bit i of a 32-bit word → byte i = 0xFF or 0
    uint32_t w; memcpy(&w, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)w), shuf);
    b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1));
}

static float dot_q4_0(int n, const void *vx, const void *vy) {
    const block_q4_0 *x = vx; const block_q8_0 *y = vy; __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / 32; i++) {
        __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        __m256i qx = _mm256_sub_epi8(nibbles32(x[i].qs), _mm256_set1_epi8(8));
        acc = _mm256_fmadd_ps(d, mul_s8(qx, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
    }
    return hsum_float_8(acc);
}
static float dot_q4_1(int n, const void *vx, const void *vy) {
    const block_q4_1 *x = vx; const block_q8_1 *y = vy; __m256 acc = _mm256_setzero_ps(); float summs = 0;
    for (int i = 0; i < n / 32; i++) {
        summs += h2f(x[i].m) * h2f(y[i].s);
        __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc = _mm256_fmadd_ps(d, mul_us8(nibbles32(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
    }
    return hsum_float_8(acc) + summs;
}
static float dot_q5_0(int n, const void *vx, const void *vy) {
    const block_q5_0 *x = vx; const block_q8_0 *y = vy; __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / 32; i++) {
        __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        __m256i hi = _mm256_andnot_si256(bits32(x[i].qh), _mm256_set1_epi8((char)0xF0));
        __m256i qx = _mm256_or_si256(nibbles32(x[i].qs), hi);
        acc = _mm256_fmadd_ps(d, mul_s8(qx, _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
    }
    return hsum_float_8(acc);
}
static float dot_q8_0(int n, const void *vx, const void *vy) {
    const block_q8_0 *x = vx; const block_q8_0 *y = vy; __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / 32; i++) {
        __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        acc = _mm256_fmadd_ps(d, mul_s8(_mm256_loadu_si256((const __m256i *)x[i].qs),
                                        _mm256_loadu_si256((const __m256i *)y[i].qs)), acc);
    }
    return hsum_float_8(acc);
}
static float dot_q4_K(int n, const void *vx, const void *vy) {
    const block_q4_K *x = vx; const block_q8_K *y = vy; __m256 acc = _mm256_setzero_ps(); float accm = 0;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int i = 0; i < n / 256; i++) {
        const float d = y[i].d * h2f(x[i].d), dmin = y[i].d * h2f(x[i].dmin);
        const uint8_t *q = x[i].scales; int16_t sc[8], mn[8];
        for (int j = 0; j < 4; j++) { sc[j] = q[j] & 63; mn[j] = q[j + 4] & 63; }
        for (int j = 4; j < 8; j++) {
            sc[j] = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4); mn[j] = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
        __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y[i].bsums), _mm_loadu_si128((const __m128i *)y[i].bsums + 1));
        __m128i prod = _mm_madd_epi16(_mm_loadu_si128((const __m128i *)mn), bs);
        prod = _mm_hadd_epi32(prod, prod); prod = _mm_hadd_epi32(prod, prod);
        accm += dmin * (float)_mm_cvtsi128_si32(prod);
        const uint8_t *q4 = x[i].qs; const int8_t *q8 = y[i].qs; __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)q4); q4 += 32;
            __m256i pl = _mm256_maddubs_epi16(_mm256_and_si256(bits, m4), _mm256_loadu_si256((const __m256i *)q8)); q8 += 32;
            __m256i ph = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), _mm256_loadu_si256((const __m256i *)q8)); q8 += 32;
            pl = _mm256_madd_epi16(_mm256_set1_epi16(sc[2 * j]), pl);
            ph = _mm256_madd_epi16(_mm256_set1_epi16(sc[2 * j + 1]), ph);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_float_8(acc) - accm;
}
static float dot_q6_K(int n, const void *vx, const void *vy) {
    const block_q6_K *x = vx; const block_q8_K *y = vy; __m256 acc = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0xF), m3 = _mm256_set1_epi8(3), m32s = _mm256_set1_epi8(32);
    for (int i = 0; i < n / 256; i++) {
        const float d = y[i].d * h2f(x[i].d);
        const uint8_t *q4 = x[i].ql, *qh = x[i].qh; const int8_t *q8 = y[i].qs, *s = x[i].scales;
        __m256i sumi = _mm256_setzero_si256();
        for (int j = 0; j < 2; j++) {
            __m256i b1 = _mm256_loadu_si256((const __m256i *)q4), b2 = _mm256_loadu_si256((const __m256i *)(q4 + 32));
            __m256i bh = _mm256_loadu_si256((const __m256i *)qh); q4 += 64; qh += 32;
            __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(bh, m3), 4);
            __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 2), m3), 4);
            __m256i h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 4), m3), 4);
            __m256i h3 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(bh, 6), m3), 4);
            __m256i q[4] = {
                _mm256_or_si256(_mm256_and_si256(b1, m4), h0), _mm256_or_si256(_mm256_and_si256(b2, m4), h1),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4), h2),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4), h3)};
            for (int k = 0; k < 4; k++) {
                __m256i y8 = _mm256_loadu_si256((const __m256i *)q8); q8 += 32;
                __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[k], y8), _mm256_maddubs_epi16(m32s, y8));
                __m256i sc = _mm256_set_m128i(_mm_set1_epi16(s[2 * k + 1]), _mm_set1_epi16(s[2 * k]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(sc, p));
            }
            s += 8;
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_float_8(acc);
}
static float dot_f16(int n, const void *vx, const void *vy) {
    const half *x = vx, *y = vy; __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int i = 0; i < n; i += 32)
        for (int k = 0; k < 4; k++)
            a[k] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i + 8 * k))),
                                   _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i + 8 * k))), a[k]);
    return hsum_float_8(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));
}
static float dot_f32(int n, const void *vx, const void *vy) {
    const float *x = vx, *y = vy; __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int i = 0; i < n; i += 32)
        for (int k = 0; k < 4; k++) a[k] = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8 * k), _mm256_loadu_ps(y + i + 8 * k), a[k]);
    return hsum_float_8(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));
}

typedef float (*dot_fn)(int, const void *, const void *);
typedef struct { const char *name; dot_fn fn; int block, wbytes, xbytes; int d_off, d2_off, xd_off; } kernel;
// d_off/d2_off: fp16 scale offsets in the weight block (-1: none); xd_off: activation scale kind (0 f16, 1 f32, -1 none)
static const kernel kernels[] = {
    {"Q4_0·Q8_0", dot_q4_0, 32, 18, 34, 0, -1, 0},   {"Q4_1·Q8_1", dot_q4_1, 32, 20, 36, 0, 2, 0},
    {"Q5_0·Q8_0", dot_q5_0, 32, 22, 34, 0, -1, 0},   {"Q8_0·Q8_0", dot_q8_0, 32, 34, 34, 0, -1, 0},
    {"Q4_K·Q8_K", dot_q4_K, 256, 144, 292, 0, 2, 1}, {"Q6_K·Q8_K", dot_q6_K, 256, 210, 292, 208, -1, 1},
    {"F16·F16", dot_f16, 1, 2, 2, -1, -1, -1},       {"F32·F32", dot_f32, 1, 4, 4, -1, -1, -1},
};

static uint64_t rng = 42;
static uint64_t next_rand(void) {
    rng += 0x9E3779B97F4A7C15ull; uint64_t z = rng;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull; z = (z ^ (z >> 27)) * 0x94D049BB133111EBull; return z ^ (z >> 31);
}
static void *random_blocks(const kernel *k, int n, int rows, int weights) {
    int bytes = (weights ? k->wbytes : k->xbytes), blocks = n / k->block * rows;
    uint8_t *p = aligned_alloc(64, ((size_t)bytes * blocks + 63) / 64 * 64);
    for (size_t i = 0; i < (size_t)bytes * blocks; i++) p[i] = (uint8_t)next_rand();
    for (int b = 0; b < blocks; b++) {
        uint8_t *blk = p + (size_t)b * bytes;
        half h = _cvtss_sh(0.01f, 0);
        if (k->xd_off < 0) { if (k->wbytes == 2) memcpy(blk, &h, 2); else { float f = 0.01f; memcpy(blk, &f, 4); } continue; }
        if (weights) { memcpy(blk + k->d_off, &h, 2); if (k->d2_off >= 0) memcpy(blk + k->d2_off, &h, 2); }
        else if (k->xd_off == 0) { memcpy(blk, &h, 2); if (k->xbytes == 36) memcpy(blk + 2, &h, 2); }
        else { float f = 0.01f; memcpy(blk, &f, 4); }
    }
    return p;
}
static clockid_t clock_id = CLOCK_MONOTONIC;  // `./c-dots N cpu` → this thread's CPU time
static double now_ns(void) { struct timespec t; clock_gettime(clock_id, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static volatile float sink;

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 15;
    if (argc > 2 && strcmp(argv[2], "cpu") == 0) clock_id = CLOCK_THREAD_CPUTIME_ID;
    double *samples = malloc(sizeof(double) * runs);
    const int n = 4096, inner = 2000;
    printf("## C (gcc AVX2) dot products, n = %d, median of %d runs\n| kernel | n | ns/dot | GB/s (weight row) |\n|---|---|---|---|\n", n, runs);
    for (size_t ki = 0; ki < sizeof kernels / sizeof kernels[0]; ki++) {
        const kernel *k = &kernels[ki];
        void *w = random_blocks(k, n, 1, 1), *x = random_blocks(k, n, 1, 0);
        float s = 0;
        for (int i = 0; i < inner; i++) s += k->fn(n, w, x);
        for (int r = 0; r < runs; r++) {
            double t0 = now_ns();
            for (int i = 0; i < inner; i++) s += k->fn(n, w, x);
            samples[r] = (now_ns() - t0) / inner;
        }
        sink = s;
        qsort(samples, runs, sizeof(double), cmp);
        double ns = samples[runs / 2], bytes = (double)n / k->block * k->wbytes;
        printf("| %s | %d | %.1f | %.1f |\n", k->name, n, ns, bytes / ns);
        free(w); free(x);
    }
    // Single-thread matvec (one dot per row, as ggml's mul_mat does) at model shapes.
    struct { const char *model, *name; int kernel, rows, cols; } shapes[] = {
        {"SmolLM2", "attn q/o 576×576", 1, 576, 576}, {"SmolLM2", "ffn gate/up", 1, 1536, 576},
        {"SmolLM2", "ffn down", 1, 576, 1536},        {"SmolLM2", "output head", 3, 49152, 576},
        {"Gemma3-270M", "ffn gate/up", 2, 2048, 640}, {"Gemma3-270M", "ffn down", 4, 640, 2048},
        {"Gemma3-270M", "ffn down", 5, 640, 2048},    {"Gemma3-270M", "attn o", 4, 640, 1024},
        {"Gemma3-270M", "attn q", 2, 1024, 640},
    };
    printf("\n## C (gcc AVX2) matvec, 1 thread, median of %d runs\n| model | matrix | kernel | rows×cols | µs | GB/s |\n|---|---|---|---|---|---|\n", runs);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const kernel *k = &kernels[shapes[si].kernel];
        int rows = shapes[si].rows, cols = shapes[si].cols;
        uint8_t *w = random_blocks(k, cols, rows, 1); void *x = random_blocks(k, cols, 1, 0);
        float *y = malloc(sizeof(float) * rows);
        size_t rowBytes = (size_t)cols / k->block * k->wbytes;
        int reps = (int)(2e7 / ((double)rows * cols)); if (reps < 1) reps = 1;
        for (int r = 0; r < runs; r++) {
            double t0 = now_ns();
            for (int i = 0; i < reps; i++) for (int row = 0; row < rows; row++) y[row] = k->fn(cols, w + row * rowBytes, x);
            samples[r] = (now_ns() - t0) / reps;
        }
        sink = y[rows / 2];
        qsort(samples, runs, sizeof(double), cmp);
        double ns = samples[runs / 2];
        printf("| %s | %s | %s | %d×%d | %.1f | %.1f |\n", shapes[si].model, shapes[si].name, k->name, rows, cols, ns / 1000,
               (double)rowBytes * rows / ns);
        free(w); free(x); free(y);
    }
    free(samples);
    return 0;
}
