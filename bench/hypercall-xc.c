/* The reference for bench/hypercall.ts: N single-domain getdomaininfo calls through libxenctrl.
 * libxenctrl is dlopen'ed so one binary runs on Xen 4.17 (libxenctrl.so.4.17: xc_domain_getinfo, a
 * domctl per call) and 4.20 (libxenctrl.so.4.20: xc_domain_getinfo_single, also one domctl).
 * Prints the elapsed nanoseconds of the loop. Build: gcc -O2 -o xc-getinfo hypercall-xc.c -ldl */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef void *(*open_fn)(void *, void *, unsigned);
typedef int (*close_fn)(void *);
typedef int (*getinfo_fn)(void *, uint32_t, unsigned, void *);      /* 4.17 xc_domain_getinfo */
typedef int (*getinfo_single_fn)(void *, uint32_t, void *);         /* 4.18+ xc_domain_getinfo_single */

int main(int argc, char **argv)
{
    const char *libs[] = { "libxenctrl.so.4.20", "libxenctrl.so.4.19", "libxenctrl.so.4.17", "libxenctrl.so", NULL };
    void *lib = NULL;
    for (int i = 0; libs[i] && !lib; i++) lib = dlopen(libs[i], RTLD_NOW);
    if (!lib) { fprintf(stderr, "cannot load libxenctrl: %s\n", dlerror()); return 2; }
    open_fn xc_open = (open_fn)dlsym(lib, "xc_interface_open");
    close_fn xc_close = (close_fn)dlsym(lib, "xc_interface_close");
    getinfo_single_fn single = (getinfo_single_fn)dlsym(lib, "xc_domain_getinfo_single");
    getinfo_fn multi = (getinfo_fn)dlsym(lib, "xc_domain_getinfo");
    if (!xc_open || !xc_close || (!single && !multi)) { fprintf(stderr, "libxenctrl lacks the symbols used\n"); return 2; }
    long n = argc > 1 ? atol(argv[1]) : 10000;
    void *xch = xc_open(NULL, NULL, 0);
    if (!xch) { perror("xc_interface_open"); return 2; }
    static unsigned char info[4096]; /* larger than xc_dominfo_t and xc_domaininfo_t */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        int rc = single ? single(xch, 0, info) : multi(xch, 0, 1, info);
        if (rc < 0 || (!single && rc != 1)) { fprintf(stderr, "getinfo failed at %ld (rc %d)\n", i, rc); return 1; }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%lld\n", (long long)(b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec));
    xc_close(xch);
    return 0;
}
