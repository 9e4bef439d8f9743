// LD_PRELOAD shim for benchmarks (not part of the library): refuses a process's request
// for AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM), so onnxruntime's MLAS (and oneDNN)
// fall back to their AVX-512 VNNI kernels. On an Intel Sapphire Rapids or newer CPU this
// shows what a VNNI CPU without AMX (AMD Zen 4, Intel Ice Lake) would get.
//
//   gcc -shared -fPIC -O2 -o /tmp/noamx.so benchmarks/noamx_preload.c -ldl
//   LD_PRELOAD=/tmp/noamx.so python benchmarks/bench_cross_encoder.py --repeat 5
//
// It prints "noamx: refused AMX permission" once when the request is refused.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/syscall.h>

#define ARCH_REQ_XCOMP_PERM 0x1023

long syscall(long number, ...) {
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_arch_prctl && a[0] == ARCH_REQ_XCOMP_PERM) {
        static int said = 0;
        if (!said++) fprintf(stderr, "noamx: refused AMX permission\n");
        errno = EPERM;
        return -1;
    }
    static long (*real)(long, ...) = 0;
    if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
