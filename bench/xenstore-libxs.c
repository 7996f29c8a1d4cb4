/* The reference for bench/xenstore.ts: N sequential writes, then N reads, through C libxenstore
 * (xs_write/xs_read on one xs_open(0) handle; libxenstore has one request in flight at a time).
 * Keys are BASE/d<i/100>/k<i%100>, as in xenstore-dom0.ts: C xenstored rewrites a node's whole child
 * list on every child it adds, so 10,000 children of one node would time xenstored, not the client.
 * Prints "<write ns> <read ns>". Build: gcc -O2 -o xenstore-libxs xenstore-libxs.c -lxenstore */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xenstore.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 10000;
    const char *base = argc > 2 ? argv[2] : "/txl-bench-c";
    char path[256];
    struct xs_handle *h = xs_open(0);
    if (!h) { perror("xs_open"); return 2; }

    long long t0 = now_ns();
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/d%d/k%d", base, i / 100, i % 100);
        if (!xs_write(h, XBT_NULL, path, "value", 5)) { perror("xs_write"); return 1; }
    }
    long long t1 = now_ns();
    for (int i = 0; i < n; i++) {
        unsigned int len;
        snprintf(path, sizeof(path), "%s/d%d/k%d", base, i / 100, i % 100);
        char *v = xs_read(h, XBT_NULL, path, &len);
        if (!v || len != 5) { perror("xs_read"); return 1; }
        free(v);
    }
    long long t2 = now_ns();
    xs_rm(h, XBT_NULL, base);
    xs_close(h);
    printf("%lld %lld\n", t1 - t0, t2 - t1);
    return 0;
}
