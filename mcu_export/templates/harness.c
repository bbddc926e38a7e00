/*
 * harness.c - plays the camera for the generated model (host build and QEMU mps2-an386).
 *
 * Usage: harness IMAGE [DUMP]
 *   IMAGE  binary PGM (P5) or PPM (P6), maxval 255, exactly the model's input size; a PPM is
 *          converted to grey ((9798 R + 19235 G + 3735 B + 16384) >> 15: OpenCV's integer
 *          0.299 R + 0.587 G + 0.114 B, what the training pipeline's ToGray gives on uint8
 *          images) for a 1-channel model and a
 *          PGM replicated for a 3-channel one. Rows are read from the file one at a time,
 *          as the model asks for them: the image never sits whole in RAM.
 *   DUMP   optional file receiving every tensor the model reports (raw int8, in order) and
 *          then the result's records (int32 LE values; a detector: n, then x1 y1 x2 y2 score
 *          label level each).
 * Prints the tensors' FNV-1a checksums and the result as the model's output op reports it
 * (rp_model_report_result: one "label v0 v1 ..." line per record; a detector: "detections n",
 * then "det x1 y1 x2 y2 score label level", boxes in 1/16 pixel, scores in 1/32767); the
 * harness knows no model kind. On the M4 also the instructions of rp_model_run (QEMU -icount shift=0: FPGAIO
 * counter ticks x 40) and the stack high-water mark. The M4 build talks to the host through
 * raw semihosting (bkpt 0xAB) only: no newlib stdio, no malloc.
 *
 * Built with -DRP_PROFILE (M4 only, run under QEMU -icount shift=7: `make qemu-profile`), it
 * also implements the runtime's profiling hooks (rp_profile.h) with an exact instruction clock
 * and prints, after the run, "profile ID INSTRUCTIONS CALLS" per unit of work (self
 * instructions: nested units are not counted in their parent; the hook's own share of every
 * interval, measured before the run, subtracted), "profile_leak L" (that share per event),
 * "profile_events N" and "instructions" for the profiled run (hooks included).
 */
#include <stddef.h>
#include <stdint.h>

#include "model.h"

#if defined(RP_SEMIHOSTING)
/* ---- raw semihosting ---- */
static int32_t sh_call(int32_t op, void *arg)
{
    register int32_t r0 __asm__("r0") = op;
    register void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
static size_t str_len(const char *s)
{
    size_t n = 0;
    while (s[n] != '\0') {
        n++;
    }
    return n;
}
static int32_t io_open(const char *path, int write)
{
    uint32_t block[3] = {(uint32_t)(uintptr_t)path, write ? 5u : 1u, (uint32_t)str_len(path)};
    return sh_call(0x01, block);
}
static int32_t io_read(int32_t fd, void *buf, int32_t n)
{
    uint32_t block[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)n};
    return n - sh_call(0x06, block); /* SYS_READ returns the bytes NOT read */
}
static int32_t io_write(int32_t fd, const void *buf, int32_t n)
{
    uint32_t block[3] = {(uint32_t)fd, (uint32_t)(uintptr_t)buf, (uint32_t)n};
    return n - sh_call(0x05, block);
}
static void io_close(int32_t fd)
{
    uint32_t block[1] = {(uint32_t)fd};
    (void)sh_call(0x02, block);
}
static void out_str(const char *s)
{
    (void)sh_call(0x04, (void *)(uintptr_t)s); /* SYS_WRITE0 */
}
#define FPGAIO_COUNTER (*(volatile uint32_t *)0x40028018u)
extern uint32_t __stack_limit[];
extern uint32_t __stack_top[];
#elif defined(RP_PROFILE)
#error "RP_PROFILE needs the M4 build (its clock is QEMU's FPGAIO counter)"
#else
/* ---- host: the same operations on stdio ---- */
#include <stdio.h>
static FILE *files[8];
static int32_t io_open(const char *path, int write)
{
    for (int32_t i = 0; i < 8; i++) {
        if (files[i] == NULL) {
            files[i] = fopen(path, write ? "wb" : "rb");
            return files[i] != NULL ? i : -1;
        }
    }
    return -1;
}
static int32_t io_read(int32_t fd, void *buf, int32_t n)
{
    return (int32_t)fread(buf, 1, (size_t)n, files[fd]);
}
static int32_t io_write(int32_t fd, const void *buf, int32_t n)
{
    return (int32_t)fwrite(buf, 1, (size_t)n, files[fd]);
}
static void io_close(int32_t fd)
{
    fclose(files[fd]);
    files[fd] = NULL;
}
static void out_str(const char *s)
{
    fputs(s, stdout);
}
#endif

/* ---- text output without printf ---- */
static char line[160];
static size_t line_len;

static void put_s(const char *s)
{
    while (*s != '\0' && line_len + 1 < sizeof line) {
        line[line_len++] = *s++;
    }
}
static void put_i(int64_t v)
{
    char tmp[24];
    int n = 0;
    uint64_t u = v < 0 ? (uint64_t)(-(v + 1)) + 1u : (uint64_t)v;
    if (v < 0) {
        put_s("-");
    }
    do {
        tmp[n++] = (char)('0' + (int)(u % 10u));
        u /= 10u;
    } while (u != 0);
    while (n > 0 && line_len + 1 < sizeof line) {
        line[line_len++] = tmp[--n];
    }
}
static void put_x(uint32_t v)
{
    static const char digits[] = "0123456789abcdef";
    put_s("0x");
    for (int k = 28; k >= 0; k -= 4) {
        line[line_len++] = digits[(v >> k) & 0xFu];
    }
}
static void flush_line(void)
{
    line[line_len++] = '\n';
    line[line_len] = '\0';
    out_str(line);
    line_len = 0;
}
static int fail(const char *msg)
{
    put_s("error: ");
    put_s(msg);
    flush_line();
    return 1;
}

#if defined(RP_PROFILE)
/* ---- profiling hooks (rp_profile.h) ----
 * The clock: QEMU's mps2-an386 clocks the FPGAIO counter, and SysTick too, at 25 MHz, i.e. one
 * tick per 40 instructions under -icount shift=0 (measured: a 2000-instruction loop reads 50
 * ticks on both). Under -icount shift=7 an instruction lasts 128 ns = 3.2 ticks, so a delta of
 * d ticks between any two reads is round(d * 5 / 16) instructions exactly (the read error is
 * under one tick = 0.3125 instructions); profile_check_clock verifies it on a loop of known
 * length. The 32-bit counter is extended to 64 bits at every read (reads are far less than
 * 2^32 ticks = 1.3 G instructions apart). */
#include "rp_profile.h"

#define PROFILE_ID_CALIBRATION 7
#define PROFILE_STEPS 256
#define PROFILE_STAGES 64
#define PROFILE_SLOTS (8 + PROFILE_STEPS + PROFILE_STAGES)
#define PROFILE_DEPTH 8

typedef struct {
    int64_t instructions; /* self: nested units excluded */
    uint32_t calls;
} profile_slot;

static profile_slot prof_slots[PROFILE_SLOTS];
static int32_t prof_stack[PROFILE_DEPTH];
static int32_t prof_depth;
static uint64_t prof_ticks; /* the counter extended to 64 bits */
static uint32_t prof_raw;
static uint64_t prof_mark;  /* the clock at the end of the last event */
static int64_t prof_leak;   /* instructions of an event inside the interval it closes/opens */
static uint32_t prof_events;
static int32_t prof_error;

static uint64_t prof_clock(void)
{
    const uint32_t raw = FPGAIO_COUNTER;
    prof_ticks += (uint32_t)(raw - prof_raw);
    prof_raw = raw;
    return prof_ticks;
}

static int64_t ticks_to_instructions(uint64_t ticks)
{
    return (int64_t)((ticks * 5u + 8u) / 16u);
}

static int32_t prof_slot_of(int32_t id)
{
    if (id >= 0 && id < 8) {
        return id;
    }
    if (id >= RP_PROFILE_STEP_BASE && id < RP_PROFILE_STEP_BASE + PROFILE_STEPS) {
        return 8 + id - RP_PROFILE_STEP_BASE;
    }
    if (id >= RP_PROFILE_STAGE_BASE && id < RP_PROFILE_STAGE_BASE + PROFILE_STAGES) {
        return 8 + PROFILE_STEPS + id - RP_PROFILE_STAGE_BASE;
    }
    return -1;
}

static int32_t prof_id_of(int32_t slot)
{
    if (slot < 8) {
        return slot;
    }
    if (slot < 8 + PROFILE_STEPS) {
        return RP_PROFILE_STEP_BASE + slot - 8;
    }
    return RP_PROFILE_STAGE_BASE + slot - 8 - PROFILE_STEPS;
}

/* Charges the interval since the last event to the innermost open unit, then opens / closes
 * id. The clock is read first and last: the bookkeeping between is nobody's. */
__attribute__((noinline)) void rp_profile_event(int32_t id, int32_t begin)
{
    const uint64_t now = prof_clock();
    if (prof_depth > 0) {
        prof_slots[prof_stack[prof_depth - 1]].instructions +=
            ticks_to_instructions(now - prof_mark) - prof_leak;
    }
    const int32_t slot = prof_slot_of(id);
    if (slot < 0) {
        prof_error = 1;
    } else if (begin) {
        if (prof_depth < PROFILE_DEPTH) {
            prof_stack[prof_depth++] = slot;
            prof_slots[slot].calls++;
        } else {
            prof_error = 1;
        }
    } else if (prof_depth > 0 && prof_stack[prof_depth - 1] == slot) {
        prof_depth--;
    } else {
        prof_error = 1;
    }
    prof_events++;
    prof_mark = prof_clock();
}

/* n iterations of two instructions (subs, bne) */
__attribute__((noinline)) static void profile_spin(uint32_t n)
{
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
}

static int64_t profile_spin_instructions(uint32_t n)
{
    const uint64_t t0 = prof_clock();
    profile_spin(n);
    return ticks_to_instructions(prof_clock() - t0);
}

/* 0 when the clock counts instructions exactly and the hook's share of an interval is known. */
static int profile_calibrate(void)
{
    (void)prof_clock();
    /* the same code around two loop lengths: exactly 2 x 2000 instructions apart */
    const int64_t a = profile_spin_instructions(1000), b = profile_spin_instructions(3000);
    if (b - a != 4000) {
        return -1; /* not -icount shift=7 */
    }
    /* an empty unit measures the hook's own instructions inside an interval */
    int64_t leak = -1;
    for (int k = 0; k < 3; k++) {
        prof_slots[PROFILE_ID_CALIBRATION].instructions = 0;
        rp_profile_event(PROFILE_ID_CALIBRATION, 1);
        rp_profile_event(PROFILE_ID_CALIBRATION, 0);
        if (leak >= 0 && prof_slots[PROFILE_ID_CALIBRATION].instructions != leak) {
            return -2;
        }
        leak = prof_slots[PROFILE_ID_CALIBRATION].instructions;
    }
    prof_leak = leak;
    for (int32_t s = 0; s < PROFILE_SLOTS; s++) {
        prof_slots[s].instructions = 0;
        prof_slots[s].calls = 0;
    }
    prof_events = 0;
    return 0;
}

static void profile_print(void)
{
    put_s("profile_leak ");
    put_i(prof_leak);
    flush_line();
    put_s("profile_events ");
    put_i(prof_events);
    flush_line();
    if (prof_error || prof_depth != 0) {
        put_s("profile_error unbalanced or unknown ids");
        flush_line();
    }
    for (int32_t s = 0; s < PROFILE_SLOTS; s++) {
        if (prof_slots[s].calls > 0) {
            put_s("profile ");
            put_i(prof_id_of(s));
            put_s(" ");
            put_i(prof_slots[s].instructions);
            put_s(" ");
            put_i(prof_slots[s].calls);
            flush_line();
        }
    }
}
#endif

/* ---- the camera: a PGM/PPM read row by row ---- */
typedef struct {
    int32_t fd;
    int32_t file_c;
} camera;

/* A file whose channel count differs from the model's is converted in chunks of this many
 * pixels (no whole-row buffer: a row is read straight into the model's ring otherwise). */
#define CAMERA_CHUNK 32

static int read_byte(int32_t fd, uint8_t *b)
{
    return io_read(fd, b, 1) == 1 ? 0 : -1;
}

/* Parses "P5|P6 <ws> W <ws> H <ws> 255 <one ws>" (comments allowed); returns channels or -1. */
static int32_t read_header(int32_t fd, int32_t *w, int32_t *h)
{
    uint8_t b0, b1, c;
    int32_t vals[3];
    if (read_byte(fd, &b0) || read_byte(fd, &b1) || b0 != 'P' || (b1 != '5' && b1 != '6')) {
        return -1;
    }
    if (read_byte(fd, &c)) {
        return -1;
    }
    for (int i = 0; i < 3; i++) {
        while (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '#') {
            if (c == '#') {
                while (c != '\n') {
                    if (read_byte(fd, &c)) {
                        return -1;
                    }
                }
            }
            if (read_byte(fd, &c)) {
                return -1;
            }
        }
        if (c < '0' || c > '9') {
            return -1;
        }
        vals[i] = 0;
        while (c >= '0' && c <= '9') {
            vals[i] = vals[i] * 10 + (c - '0');
            if (vals[i] > 100000 || read_byte(fd, &c)) {
                return -1;
            }
        }
    }
    *w = vals[0];
    *h = vals[1];
    return vals[2] == 255 ? (b1 == '5' ? 1 : 3) : -1;
}

static int read_rows(void *user, uint8_t *dst, int32_t row0, int32_t nrows)
{
    camera *cam = (camera *)user;
    (void)row0; /* rows are requested in order: the file is read sequentially */
    for (int32_t r = 0; r < nrows; r++) {
        uint8_t *out = dst + (size_t)r * RP_MODEL_IMAGE_W * RP_MODEL_IMAGE_C;
        const int32_t n = RP_MODEL_IMAGE_W * cam->file_c;
        if (cam->file_c == RP_MODEL_IMAGE_C) {
            if (io_read(cam->fd, out, n) != n) {
                return -1;
            }
            continue;
        }
        for (int32_t x0 = 0; x0 < RP_MODEL_IMAGE_W; x0 += CAMERA_CHUNK) {
            uint8_t chunk[CAMERA_CHUNK * 3];
            const int32_t np = RP_MODEL_IMAGE_W - x0 < CAMERA_CHUNK ? RP_MODEL_IMAGE_W - x0
                                                                     : CAMERA_CHUNK;
            if (io_read(cam->fd, chunk, np * cam->file_c) != np * cam->file_c) {
                return -1;
            }
            for (int32_t i = 0; i < np; i++) {
                const int32_t x = x0 + i;
                if (cam->file_c == 3) { /* RGB -> grey */
                    const uint8_t *p = chunk + 3 * i;
                    out[x] = (uint8_t)((9798u * p[0] + 19235u * p[1] + 3735u * p[2] + 16384u) >> 15);
                } else { /* grey -> RGB */
                    out[3 * x] = out[3 * x + 1] = out[3 * x + 2] = chunk[i];
                }
            }
        }
    }
    return 0;
}

/* ---- tensor hook: checksums and the dump ---- */
static int32_t dump_fd = -1;

static void tensor_hook(void *user, int32_t id, const int8_t *data, int32_t size)
{
    uint32_t hash = 2166136261u;
    (void)user;
    for (int32_t i = 0; i < size; i++) {
        hash = (hash ^ (uint8_t)data[i]) * 16777619u;
    }
    put_s("tensor ");
    put_s(rp_model_tensor_names[id]);
    put_s(" bytes ");
    put_i(size);
    put_s(" fnv1a ");
    put_x(hash);
    flush_line();
    if (dump_fd >= 0) {
        (void)io_write(dump_fd, data, size);
    }
}

static void dump_i32(int32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    if (dump_fd >= 0) {
        (void)io_write(dump_fd, b, 4);
    }
}

/* one record of the result: a "label v0 v1 ..." line and the values in the dump */
static void result_sink(void *user, const char *label, const int32_t *values, int32_t n)
{
    (void)user;
    put_s(label);
    for (int32_t k = 0; k < n; k++) {
        put_s(" ");
        put_i(values[k]);
        dump_i32(values[k]);
    }
    flush_line();
}

static rp_model_ctx ctx;
static uint8_t arena[RP_MODEL_ARENA_BYTES] __attribute__((aligned(16)));
static rp_model_result result;

static int run(const char *image_path, const char *dump_path)
{
    camera cam;
    int32_t w, h;
    cam.fd = io_open(image_path, 0);
    if (cam.fd < 0) {
        return fail("cannot open the image");
    }
    cam.file_c = read_header(cam.fd, &w, &h);
    if (cam.file_c < 0) {
        return fail("not a binary PGM (P5) / PPM (P6) with maxval 255");
    }
    if (w != RP_MODEL_IMAGE_W || h != RP_MODEL_IMAGE_H) {
        put_s("error: image is ");
        put_i(w);
        put_s("x");
        put_i(h);
        put_s(", the model takes ");
        put_i(RP_MODEL_IMAGE_W);
        put_s("x");
        put_i(RP_MODEL_IMAGE_H);
        flush_line();
        return 1;
    }
    if (dump_path != NULL) {
        dump_fd = io_open(dump_path, 1);
        if (dump_fd < 0) {
            return fail("cannot open the dump file");
        }
    }
    rp_status st = rp_model_init(&ctx, arena, sizeof arena);
    if (st != RP_OK) {
        return fail("rp_model_init failed");
    }
    rp_model_set_tensor_hook(&ctx, tensor_hook, NULL);
#if defined(RP_PROFILE)
    const int calibrated = profile_calibrate();
    if (calibrated != 0) {
        return fail(calibrated == -1 ? "the profile clock is not exact (run QEMU with -icount "
                                       "shift=7: make qemu-profile)"
                                     : "the profile hook's cost varies between calls");
    }
    const uint64_t p0 = prof_clock();
    RP_PROFILE_BEGIN(RP_PROFILE_ID_RUN);
#endif
#if defined(RP_SEMIHOSTING)
    const uint32_t t0 = FPGAIO_COUNTER;
#endif
    st = rp_model_run(&ctx, read_rows, &cam, &result);
#if defined(RP_SEMIHOSTING)
    const uint32_t ticks = FPGAIO_COUNTER - t0;
#endif
#if defined(RP_PROFILE)
    RP_PROFILE_END(RP_PROFILE_ID_RUN);
    const int64_t profiled = ticks_to_instructions(prof_clock() - p0);
    (void)ticks;
#endif
    io_close(cam.fd);
    put_s("status ");
    put_i(st);
    flush_line();
    if (st != RP_OK) {
        return 1;
    }
    rp_model_report_result(&result, result_sink, NULL);
    if (dump_fd >= 0) {
        io_close(dump_fd);
    }
#if defined(RP_PROFILE)
    put_s("instructions ");
    put_i(profiled); /* hooks included; exact */
    flush_line();
    profile_print();
#elif defined(RP_SEMIHOSTING)
    put_s("instructions ");
    put_i((int64_t)ticks * 40);
    flush_line();
#endif
#if defined(RP_SEMIHOSTING)
    const uint32_t *p = __stack_limit;
    while (p < __stack_top && *p == 0xDEADBEEFu) {
        p++;
    }
    put_s("stack_bytes ");
    put_i((int64_t)((uintptr_t)__stack_top - (uintptr_t)p));
    flush_line();
#endif
    return 0;
}

#if defined(RP_SEMIHOSTING)
int main(void)
{
    static char cmdline[256];
    char *args[4] = {NULL, NULL, NULL, NULL};
    int32_t nargs = 0;
    uint32_t block[2] = {(uint32_t)(uintptr_t)cmdline, sizeof cmdline - 1};
    if (sh_call(0x15, block) != 0) { /* SYS_GET_CMDLINE: "prog IMAGE [DUMP]" */
        return fail("no command line (run QEMU with -semihosting-config ...,arg=...)");
    }
    cmdline[block[1] < sizeof cmdline ? block[1] : sizeof cmdline - 1] = '\0';
    for (char *c = cmdline; *c != '\0' && nargs < 4;) {
        while (*c == ' ') {
            *c++ = '\0';
        }
        if (*c == '\0') {
            break;
        }
        args[nargs++] = c;
        while (*c != ' ' && *c != '\0') {
            c++;
        }
    }
    if (nargs < 2) {
        return fail("usage: harness IMAGE [DUMP]");
    }
    return run(args[1], nargs > 2 ? args[2] : NULL);
}
#else
int main(int argc, char **argv)
{
    if (argc < 2) {
        return fail("usage: harness IMAGE [DUMP]");
    }
    return run(argv[1], argc > 2 ? argv[2] : NULL);
}
#endif
