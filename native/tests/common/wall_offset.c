/* LD_PRELOAD shim for native/tests/clock_step.rs: steps a process's wall clock
 * (CLOCK_REALTIME, what SystemTime::now reads) by the signed milliseconds written in the file
 * named by $WALL_OFFSET_FILE, re-read at most every 20 ms. The monotonic clock is untouched:
 * this is what an NTP step or `date -s` does to a running node, without root. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int (*real_clock_gettime)(clockid_t, struct timespec *);
static long long offset_ms;
static long long next_read_ns;

static long long read_offset(void) {
    const char *path = getenv("WALL_OFFSET_FILE");
    long long ms = 0;
    FILE *f = path ? fopen(path, "r") : NULL;
    if (f) {
        if (fscanf(f, "%lld", &ms) != 1) ms = 0;
        fclose(f);
    }
    return ms;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    if (!real_clock_gettime)
        real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int r = real_clock_gettime(id, ts);
    if (r != 0 || (id != CLOCK_REALTIME && id != CLOCK_REALTIME_COARSE)) return r;
    struct timespec mono;
    real_clock_gettime(CLOCK_MONOTONIC, &mono);
    long long mono_ns = mono.tv_sec * 1000000000LL + mono.tv_nsec;
    if (mono_ns >= __atomic_load_n(&next_read_ns, __ATOMIC_RELAXED)) {
        __atomic_store_n(&next_read_ns, mono_ns + 20000000LL, __ATOMIC_RELAXED);
        __atomic_store_n(&offset_ms, read_offset(), __ATOMIC_RELAXED);
    }
    long long ns = ts->tv_sec * 1000000000LL + ts->tv_nsec
        + __atomic_load_n(&offset_ms, __ATOMIC_RELAXED) * 1000000LL;
    ts->tv_sec = ns / 1000000000LL;
    ts->tv_nsec = ns % 1000000000LL;
    return r;
}
