/* evil: a wasm guest for the tests that speaks the ABI by hand and breaks it
 * on request. The call's name says how. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

#define EXPORT(name) __attribute__((export_name(name)))
#define IMPORT(name) __attribute__((import_module("airlock"), import_name(name)))

IMPORT("host_call") uint32_t host_call(const char *fn, uint32_t fn_len, const char *in, uint32_t in_len);
IMPORT("host_result") void host_result(char *buf);

#ifdef FORBIDDEN_IMPORT
__attribute__((import_module("env"), import_name("system"))) int system_call(const char *);
#endif

#ifdef TABLE_GROW
/* table.grow on the function table by n entries (built with
 * -mreference-types -Wl,--growable-table, which leaves the table without
 * a maximum): the old size, or -1 if the table cannot grow. */
static int table_grow(int n) {
    int r;
    __asm__ volatile(".tabletype __indirect_function_table, funcref\n\t"
                     "ref.null_func\n\tlocal.get %1\n\ttable.grow __indirect_function_table\n\tlocal.set %0"
                     : "=r"(r) : "r"(n));
    return r;
}
#endif

static uint64_t pack(const char *s, size_t n) {
    char *out = malloc(n);
    memcpy(out, s, n);
    return ((uint64_t)(uintptr_t)out << 32) | n;
}

static uint64_t reply(const char *s) { return pack(s, strlen(s)); }

/* What the guest does when an instance starts, from the environment
 * variable EVIL_AT_START (passed with the grant env:EVIL_AT_START): "spin"
 * loops for ever in _initialize (a constructor), "sleep" sleeps for a
 * minute there, "depth:N" recurses N calls deep there (bounded, below),
 * "protocol" loops for ever in airlock_protocol. */
static const char *at_start(void) {
    const char *v = getenv("EVIL_AT_START");
    return v ? v : "";
}

/* The answer to a host call made in _initialize ("hostcall"), and its
 * length, kept for the "initcall" attack to report. */
static char init_answer[256];
static uint32_t init_len;

static int (*volatile bounded_ptr)(int);
static int start_depth;

__attribute__((constructor)) static void start(void) {
    if (strncmp(at_start(), "depth:", 6) == 0) {
        start_depth = bounded_ptr(atoi(at_start() + 6));
    } else if (strcmp(at_start(), "hostcall") == 0) {
        init_len = host_call("kv.get", 6, "{\"key\":\"k\"}", 11);
        if (init_len < sizeof init_answer) host_result(init_answer);
    } else if (strcmp(at_start(), "spin") == 0) {
        for (volatile int i = 0;; i++) {
        }
    } else if (strcmp(at_start(), "sleep") == 0) {
        sleep(60);
    }
}

EXPORT("airlock_protocol") uint32_t airlock_protocol(void) {
    if (strcmp(at_start(), "protocol") == 0) {
        for (volatile int i = 0;; i++) {
        }
    }
    return 1;
}

/* The calls this instance has served: a fresh instance starts at 0. */
static int served;

/* number returns the integer after "key": in the input, or def. */
static long number(const char *in, const char *key, long def) {
    const char *p = strstr(in, key);
    return p ? atol(p + strlen(key)) : def;
}

static long long now_ns(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* sleep_abs sleeps until ms from now on clock, with an absolute time. */
static int sleep_abs(clockid_t clock, long ms) {
    long long until = now_ns(clock) + ms * 1000000LL;
    struct timespec ts = {.tv_sec = until / 1000000000LL, .tv_nsec = until % 1000000000LL};
    return clock_nanosleep(clock, TIMER_ABSTIME, &ts, NULL);
}

static void sub_clock(__wasi_subscription_t *s, uint64_t userdata, uint32_t id, uint64_t ns, uint16_t flags) {
    memset(s, 0, sizeof *s);
    s->userdata = userdata;
    s->u.tag = __WASI_EVENTTYPE_CLOCK;
    s->u.u.clock.id = id;
    s->u.u.clock.timeout = ns;
    s->u.u.clock.flags = flags;
}

static void sub_fd(__wasi_subscription_t *s, uint64_t userdata, uint8_t tag, uint32_t fd) {
    memset(s, 0, sizeof *s);
    s->userdata = userdata;
    s->u.tag = tag;
    s->u.u.fd_read.file_descriptor = fd;
}

/* poll_report polls subs and reports the errno and the events as JSON:
 * {"errno":E,"events":[[userdata,error,type],...]}. */
static uint64_t poll_report(__wasi_subscription_t *subs, int n) {
    __wasi_event_t ev[8];
    __wasi_size_t got = 0;
    memset(ev, 0xAA, sizeof ev);
    __wasi_errno_t e = __wasi_poll_oneoff(subs, ev, n, &got);
    char buf[512];
    int k = sprintf(buf, "{\"result\":{\"errno\":%d,\"events\":[", e);
    for (__wasi_size_t i = 0; e == 0 && i < got && i < 8; i++) {
        k += sprintf(buf + k, "%s[%llu,%d,%d]", i ? "," : "", (unsigned long long)ev[i].userdata, ev[i].error, ev[i].type);
    }
    k += sprintf(buf + k, "]}}");
    return pack(buf, (size_t)k);
}

/* poll_probe runs one of the poll_oneoff probes the tests name. */
static uint64_t poll_probe(const char *in) {
    __wasi_subscription_t s[4];
    const uint64_t minute = 60000000000ULL, short_ns = 100000000ULL;
    if (strstr(in, "\"fds\"")) {
        /* Descriptors are ready at once; the minute-long clock is not. */
        sub_clock(&s[0], 1, __WASI_CLOCKID_MONOTONIC, minute, 0);
        sub_fd(&s[1], 2, __WASI_EVENTTYPE_FD_READ, 1);
        sub_fd(&s[2], 3, __WASI_EVENTTYPE_FD_READ, 99);
        sub_fd(&s[3], 4, __WASI_EVENTTYPE_FD_WRITE, 1);
        return poll_report(s, 4);
    } else if (strstr(in, "\"fdonly\"")) {
        sub_fd(&s[0], 7, __WASI_EVENTTYPE_FD_READ, 2);
        return poll_report(s, 1);
    } else if (strstr(in, "\"clocks\"")) {
        /* The earlier clock fires; the later one is not reported. */
        sub_clock(&s[0], 1, __WASI_CLOCKID_MONOTONIC, minute, 0);
        sub_clock(&s[1], 2, __WASI_CLOCKID_REALTIME, short_ns, 0);
        return poll_report(s, 2);
    } else if (strstr(in, "\"none\"")) {
        return poll_report(s, 0);
    } else if (strstr(in, "\"badtag\"")) {
        sub_fd(&s[0], 1, 9, 1);
        return poll_report(s, 1);
    } else if (strstr(in, "\"badclock\"")) {
        sub_clock(&s[0], 1, 7, short_ns, 0);
        return poll_report(s, 1);
    } else if (strstr(in, "\"badflags\"")) {
        sub_clock(&s[0], 1, __WASI_CLOCKID_MONOTONIC, short_ns, 2);
        return poll_report(s, 1);
    } else if (strstr(in, "\"abscpu\"")) {
        sub_clock(&s[0], 1, __WASI_CLOCKID_PROCESS_CPUTIME_ID, short_ns, __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME);
        return poll_report(s, 1);
    } else if (strstr(in, "\"badfd\"")) {
        sub_fd(&s[0], 1, __WASI_EVENTTYPE_FD_READ, 0x80000000u);
        return poll_report(s, 1);
    } else if (strstr(in, "\"many\"")) {
        /* 2^17 subscriptions (6 MiB of them), each a clock that fires at
         * once: more than the host takes in one poll. */
        __wasi_size_t n = 1u << 17, got = 0;
        __wasi_subscription_t *many = calloc(n, sizeof *many);
        __wasi_event_t *events = calloc(n, sizeof *events);
        int e = many && events ? __wasi_poll_oneoff(many, events, n, &got) : -1;
        free(many);
        free(events);
        char buf[64];
        int k = sprintf(buf, "{\"result\":{\"errno\":%d,\"events\":[]}}", e);
        return pack(buf, (size_t)k);
    } else if (strstr(in, "\"fault\"")) {
        __wasi_size_t got;
        char buf[64];
        int e = __wasi_poll_oneoff((const __wasi_subscription_t *)0xFFFFFF00u, (__wasi_event_t *)s, 2, &got);
        int k = sprintf(buf, "{\"result\":{\"errno\":%d,\"events\":[]}}", e);
        return pack(buf, (size_t)k);
    }
    return reply("{\"error\":{\"code\":-32602,\"message\":\"unknown probe\"}}");
}

EXPORT("airlock_alloc") void *airlock_alloc(uint32_t n) { return malloc(n ? n : 1); }
EXPORT("airlock_free") void airlock_free(void *p, uint32_t n) { (void)n; free(p); }

EXPORT("airlock_init") uint64_t airlock_init(char *p, uint32_t n) {
    (void)n;
    free(p);
#ifdef FORBIDDEN_IMPORT
    system_call("rm -rf /");
#endif
    return reply("{\"result\":{\"protocol\":1,\"name\":\"evil\",\"version\":\"1.0.0\",\"hooks\":[\"attack\"]}}");
}

static int recurse(int n) {
    volatile char pad[256];
    pad[0] = (char)n;
    return recurse(n + 1) + pad[0];
}

/* deep recurses through a function pointer with nothing on the C stack,
 * until the wasm call stack overflows. */
static int deep(int n);
static int (*volatile deep_ptr)(int) = deep;
static int deep(int n) { return deep_ptr(n + 1) + 1; }

/* bounded recurses through the function pointer n calls deep and back. */
static int bounded(int n);
static int (*volatile bounded_ptr)(int) = bounded;
static int bounded(int n) { return n == 0 ? 0 : bounded_ptr(n - 1) + 1; }

EXPORT("airlock_call") uint64_t airlock_call(char *p, uint32_t n) {
    char *in = malloc(n + 1);
    memcpy(in, p, n);
    in[n] = 0;
    free(p);
    uint64_t r = reply("{\"result\":\"ok\"}");
    served++;
    if (strstr(in, "\"served\"")) {
        char buf[64];
        int k = sprintf(buf, "{\"result\":%d}", served);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"sleep\"")) {
        /* nanosleep: a relative clock subscription. */
        long ms = number(in, "\"ms\":", 0);
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        r = nanosleep(&ts, NULL) == 0 ? r : reply("{\"result\":\"nanosleep failed\"}");
    } else if (strstr(in, "\"sleepabs\"")) {
        /* clock_nanosleep with TIMER_ABSTIME, on both clocks in turn. */
        long ms = number(in, "\"ms\":", 0);
        int e1 = sleep_abs(CLOCK_MONOTONIC, ms), e2 = sleep_abs(CLOCK_REALTIME, ms);
        char buf[64];
        int k = sprintf(buf, "{\"result\":[%d,%d]}", e1, e2);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"poll\"")) {
        r = poll_probe(in);
#ifdef TABLE_GROW
    } else if (strstr(in, "\"tablegrow\"")) {
        /* Grow the function table by "entries"; answer table.grow's result. */
        char buf[64];
        int k = sprintf(buf, "{\"result\":%d}", table_grow((int)number(in, "\"entries\":", 0)));
        r = pack(buf, (size_t)k);
#endif
    } else if (strstr(in, "\"growby\"")) {
        /* Grow memory by "pages", touch it, hold it for "ms". */
        long pages = number(in, "\"pages\":", 0), ms = number(in, "\"ms\":", 0);
        size_t old = __builtin_wasm_memory_grow(0, pages);
        int grew = old != (size_t)-1;
        if (grew) memset((char *)(old * 65536), 1, pages * 65536);
        struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        char buf[64];
        int k = sprintf(buf, "{\"result\":{\"grew\":%s,\"pages\":%zu}}", grew ? "true" : "false", __builtin_wasm_memory_size(0));
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"openfile\"")) {
        /* Open "file" in the first granted directory (descriptor 3);
         * answer the errno (0: opened). */
        char name[256] = {0};
        const char *p = strstr(in, "\"file\":\"");
        for (size_t i = 0; p && p[8 + i] && p[8 + i] != '"' && i < sizeof name - 1; i++) name[i] = p[8 + i];
        __wasi_fd_t fd;
        __wasi_errno_t e = __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, name, 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd);
        if (e == 0) (void)__wasi_fd_close(fd);
        char buf[64];
        int k = sprintf(buf, "{\"result\":%d}", e);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"longname\"")) {
        /* Call a host function whose name is 32 MiB long, ten times;
         * answer the last answer's length. */
        size_t n = 32u << 20;
        char *name = malloc(n);
        uint32_t len = 0;
        if (name) {
            memset(name, 'a', n);
            for (int i = 0; i < 10; i++) len = host_call(name, (uint32_t)n, "{}", 2);
            free(name);
        }
        char buf[64];
        int k = sprintf(buf, "{\"result\":%u}", len);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"biginput\"")) {
        /* Call log with the same 512 KiB input 1,000 times: the host
         * checks it at every call, and it costs the guest nothing.
         * Answer [calls answered, calls refused with -32005]. */
        size_t n = 512u << 10;
        char *msg = malloc(n);
        int ok = 0, paced = 0;
        if (msg) {
            memset(msg, 'x', n);
            msg[0] = '"';
            msg[n - 1] = '"';
            char res[256];
            for (int i = 0; i < 1000; i++) {
                uint32_t len = host_call("log", 3, msg, (uint32_t)n);
                res[0] = 0;
                if (len < sizeof res) {
                    host_result(res);
                    res[len] = 0;
                }
                if (strstr(res, "-32005")) paced++;
                else if (strstr(res, "\"result\"")) ok++;
            }
            free(msg);
        }
        char buf[64];
        int k = sprintf(buf, "{\"result\":[%d,%d]}", ok, paced);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"longpath\"")) {
        /* Ask for the status of a path 32 MiB long in the first
         * preopened directory (descriptor 3), ten times; answer the
         * last errno. */
        size_t n = 32u << 20;
        char *path = malloc(n);
        __wasi_errno_t e = 0;
        if (path) {
            memset(path, 'a', n - 1);
            path[n - 1] = 0;
            __wasi_filestat_t st;
            for (int i = 0; i < 10; i++) e = __wasi_path_filestat_get(3, 0, path, &st);
            free(path);
        }
        char buf[64];
        int k = sprintf(buf, "{\"result\":%d}", e);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"bigwrite\"")) {
        /* Create "out" in the first granted directory (descriptor 3) and
         * write 1 MiB to it ten times, then try to set its size to
         * 64 MiB; answer [bytes written, errno of the write that failed
         * (0: none did), errno of the size]. */
        size_t chunk = 1u << 20;
        char *data = calloc(1, chunk);
        __wasi_fd_t fd;
        __wasi_errno_t e = __wasi_path_open(3, 0, "out", __WASI_OFLAGS_CREAT | __WASI_OFLAGS_TRUNC,
                                            __WASI_RIGHTS_FD_WRITE | __WASI_RIGHTS_FD_FILESTAT_SET_SIZE, 0, 0, &fd);
        size_t written = 0;
        __wasi_errno_t es = 0;
        for (int i = 0; e == 0 && data && i < 10; i++) {
            __wasi_ciovec_t iov = {.buf = (const uint8_t *)data, .buf_len = chunk};
            __wasi_size_t n = 0;
            e = __wasi_fd_write(fd, &iov, 1, &n);
            written += n;
        }
        es = __wasi_fd_filestat_set_size(fd, 64u << 20);
        (void)__wasi_fd_close(fd);
        free(data);
        char buf[96];
        int k = sprintf(buf, "{\"result\":[%zu,%d,%d]}", written, e, es);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"manyiovs\"")) {
        /* One fd_write to standard output of 16 million empty pieces:
         * work in the host, not in guest code its checks could stop. */
        size_t count = 16u << 20;
        __wasi_ciovec_t *iovs = calloc(count, sizeof *iovs);
        __wasi_size_t n = 0;
        __wasi_errno_t e = iovs ? __wasi_fd_write(1, iovs, count, &n) : 0;
        free(iovs);
        char buf[64];
        int k = sprintf(buf, "{\"result\":%d}", e);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"bigrandom\"")) {
        /* One random_get of 256 MiB. */
        size_t len = 256u << 20;
        uint8_t *p = malloc(len);
        __wasi_errno_t e = p ? __wasi_random_get(p, len) : 0;
        free(p);
        char buf[64];
        int k = sprintf(buf, "{\"result\":%d}", e);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"openmany\"")) {
        /* Open "file" in the first granted directory (descriptor 3) up to
         * 1000 times, closing none; answer [how many opened, the errno
         * of the open that failed (0: none did)]. */
        int opened = 0;
        __wasi_errno_t e = 0;
        for (; opened < 1000; opened++) {
            __wasi_fd_t fd;
            e = __wasi_path_open(3, 0, "file", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd);
            if (e != 0) break;
        }
        char buf[64];
        int k = sprintf(buf, "{\"result\":[%d,%d]}", opened, e);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"linkout\"")) {
        /* Make a link in the first granted directory (descriptor 3) to
         * "../secret", outside it, and read through it. Answers
         * [errno of the link, errno of the open, bytes read]. */
        __wasi_errno_t el = __wasi_path_symlink("../secret", 3, "link");
        __wasi_fd_t fd;
        __wasi_errno_t eo = __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, "link", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd);
        char got[32] = {0};
        __wasi_size_t n = 0;
        if (eo == 0) {
            __wasi_iovec_t iov = {.buf = (uint8_t *)got, .buf_len = sizeof got - 1};
            (void)__wasi_fd_read(fd, &iov, 1, &n);
            (void)__wasi_fd_close(fd);
        }
        char buf[128];
        int k = sprintf(buf, "{\"result\":[%d,%d,%d]}", el, eo, (int)n);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"depth:")) {
        char buf[64];
        int k = sprintf(buf, "{\"result\":%d}", bounded_ptr(atoi(strstr(in, "\"depth:") + 7)));
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"wasmstack\"")) {
        r = (uint64_t)deep(0);
    } else if (strstr(in, "\"divzero\"")) {
        volatile int zero = 0;
        r = (uint64_t)(100 / zero);
    } else if (strstr(in, "\"oobload\"")) {
        r = *(volatile uint64_t *)(uintptr_t)0xFFFFFFF0u;
    } else if (strstr(in, "\"loop\"")) {
        for (volatile int i = 0;; i++) {
        }
    } else if (strstr(in, "\"trap\"")) {
        __builtin_trap();
    } else if (strstr(in, "\"recurse\"")) {
        r = (uint64_t)recurse(0);
    } else if (strstr(in, "\"grow\"")) {
        /* Grow memory one page at a time until refused; report the pages. */
        int pages = 0;
        while (__builtin_wasm_memory_grow(0, 1) != (size_t)-1 && pages < 100000) pages++;
        char buf[64];
        size_t total = __builtin_wasm_memory_size(0);
        int k = 0;
        k += sprintf(buf, "{\"result\":%zu}", total);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"oob\"")) {
        r = ((uint64_t)0xFFFFFF00u << 32) | 1000; /* past the end of memory */
    } else if (strstr(in, "\"huge\"")) {
        size_t size = 8u << 20;
        char *big = malloc(size);
        memset(big, ' ', size);
        memcpy(big, "{\"result\":\"", 11);
        memcpy(big + size - 2, "\"}", 2);
        r = ((uint64_t)(uintptr_t)big << 32) | size;
    } else if (strstr(in, "\"garbage\"")) {
        r = reply("this is not an envelope");
    } else if (strstr(in, "\"denied\"")) {
        const char *fn = "secret.read";
        uint32_t len = host_call(fn, strlen(fn), "{}", 2);
        char *res = malloc(len + 1);
        host_result(res);
        res[len] = 0;
        char *out = malloc(len + 32);
        strcpy(out, "{\"result\":");
        strcat(out, res);
        strcat(out, "}");
        r = reply(out);
    } else if (strstr(in, "\"badinput\"")) {
        /* Host calls whose input is not what the process tier's decoder
         * would let through: cut short, invalid UTF-8, a member twice, a
         * raw newline splitting a value, a second value after the first,
         * nesting deeper than any decoder allows. */
        static char deep[200002];
        memset(deep, '[', 100000);
        memset(deep + 100000, ']', 100000);
        const char *bad[] = {"{\"key\":\"k\"", "{\"key\":\"\xff\xfe\"}", "{\"key\":\"a\",\"key\":\"b\"}",
                             "{\"key\":\"k\",\"value\":1}\n{\"jsonrpc\":\"2.0\"}", "{\"key\":\"k\"} 7", deep};
        char out[256];
        int k = sprintf(out, "{\"result\":[");
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            uint32_t len = host_call("kv.set", 6, bad[i], strlen(bad[i]));
            char *res = malloc(len + 1);
            host_result(res);
            res[len] = 0;
            /* The answer's error code, or 0 for a result. */
            const char *code = strstr(res, "\"code\":");
            k += sprintf(out + k, "%s%ld", i ? "," : "", code ? atol(code + 7) : 0L);
            free(res);
        }
        k += sprintf(out + k, "]}");
        r = pack(out, (size_t)k);
    } else if (strstr(in, "\"initcall\"")) {
        char buf[320];
        int k = sprintf(buf, "{\"result\":[%u,%s]}", init_len, init_answer[0] ? init_answer : "null");
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"abi\"")) {
        /* The host functions misused: a name whose pointer and length wrap
         * past 2^32, an input 4 GiB long, host_result to a pointer past
         * the end of memory, host_result twice and without a host_call, a
         * host_call with a NUL byte inside the name. Answer: each
         * host_call's answer length, then whether the buffer host_result
         * should not have written stayed untouched. */
        uint32_t l1 = host_call((const char *)0xFFFFFFFFu, 2, "{}", 2);
        uint32_t l2 = host_call("log", 3, (const char *)16, 0xFFFFFFFFu);
        uint32_t l3 = host_call("kv.get", 6, "{\"key\":\"k\"}", 11);
        host_result((char *)0xFFFFFFF0u);
        char canary[64];
        memset(canary, 'c', sizeof canary);
        host_result(canary); /* the answer was taken: nothing left */
        host_result(canary); /* no host_call at all */
        uint32_t l4 = host_call("kv.get\0x", 8, "{}", 2);
        char *res = malloc(l4 + 1);
        host_result(res);
        int untouched = 1;
        for (size_t i = 0; i < sizeof canary; i++) untouched &= canary[i] == 'c';
        char buf[128];
        int k = sprintf(buf, "{\"result\":[%u,%u,%u,%u,%d]}", l1, l2, l3, l4, untouched);
        r = pack(buf, (size_t)k);
    } else if (strstr(in, "\"hostoob\"")) {
        uint32_t len = host_call((const char *)0xFFFFFFF0u, 100, "{}", 2);
        (void)len;
    }
    free(in);
    return r;
}
