/* LD_PRELOAD shim for the VM tests (tests/vm/): hides the pixel formats named in
 * ROOMBELL_VM_HIDE_FOURCC (comma-separated FourCCs, e.g. "NV12") from VIDIOC_ENUM_FMT, so that
 * roombell's negotiation picks the next format (YUYV) against the real vivid driver. roombell has
 * no setting for the pixel format; everything else (S_FMT, REQBUFS, mmap streaming) is the
 * driver's own. The v4l crate calls syscall(SYS_ioctl, ...) rather than ioctl(), so both are
 * interposed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <linux/videodev2.h>

typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef long (*syscall_fn)(long, ...);

static int hidden(__u32 fourcc) {
    const char *list = getenv("ROOMBELL_VM_HIDE_FOURCC");
    char code[5];
    if (!list) return 0;
    memcpy(code, &fourcc, 4);
    code[4] = 0;
    for (const char *p = list; *p; ) {
        if (strncmp(p, code, 4) == 0 && (p[4] == 0 || p[4] == ',')) return 1;
        p = strchr(p, ',');
        if (!p) break;
        p++;
    }
    return 0;
}

typedef long (*raw_ioctl)(int fd, unsigned long request, void *arg);

/* ENUM_FMT through `real`, skipping hidden formats; everything else passes through. */
static long filtered(raw_ioctl real, int fd, unsigned long request, void *arg) {
    if (request != VIDIOC_ENUM_FMT) return real(fd, request, arg);
    struct v4l2_fmtdesc *desc = arg;
    __u32 want = desc->index, seen = 0;
    for (__u32 index = 0;; index++) {
        desc->index = index;
        long rc = real(fd, request, desc);
        if (rc < 0) { desc->index = want; return rc; }
        if (hidden(desc->pixelformat)) continue;
        if (seen++ == want) { desc->index = want; return rc; }
    }
}

static ioctl_fn real_ioctl;
static syscall_fn real_syscall;

static long via_ioctl(int fd, unsigned long request, void *arg) { return real_ioctl(fd, request, arg); }
static long via_syscall(int fd, unsigned long request, void *arg) { return real_syscall(SYS_ioctl, fd, request, arg); }

int ioctl(int fd, unsigned long request, ...) {
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    if (!real_ioctl) real_ioctl = (ioctl_fn)dlsym(RTLD_NEXT, "ioctl");
    return (int)filtered(via_ioctl, fd, request, arg);
}

long syscall(long number, ...) {
    va_list ap;
    long a[6];
    va_start(ap, number);
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    if (!real_syscall) real_syscall = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
    if (number == SYS_ioctl) return filtered(via_syscall, (int)a[0], (unsigned long)a[1], (void *)a[2]);
    return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
