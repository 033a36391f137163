/* A Linux program that asks the system about itself and reads its input:
 * uname, getpid, gettid, getuid, read and stdio on standard input (which
 * is at end of file: the console gives Linux programs no input yet),
 * mprotect of touched pages (read-only, and PROT_NONE then read-write,
 * both keeping the bytes), the clocks (CLOCK_MONOTONIC twice around some
 * work, CLOCK_REALTIME, gettimeofday, clock_getres, an unknown clock, a
 * bad pointer), and
 * exits with status 3, which the server must report as such.
 * tests/tests/linux.rs matches its lines. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
    struct utsname u;
    if (uname(&u) != 0) {
        printf("basics: uname failed\n");
        return 1;
    }
    printf("basics: uname: %s %s %s %s\n", u.sysname, u.nodename, u.release, u.machine);
    printf("basics: pid %ld, tid %ld, uid %ld\n", (long)getpid(), syscall(SYS_gettid),
           (long)getuid());
    char buf[16];
    long n = read(0, buf, sizeof buf);
    printf("basics: read(0) = %ld\n", n);
    struct iovec v[2] = {{buf, 8}, {buf + 8, 8}};
    printf("basics: readv(0) = %ld\n", (long)readv(0, v, 2));
    n = read(5, buf, 1);
    printf("basics: read(5) = %ld (%s)\n", n, n < 0 ? strerror(errno) : "?");
    int c = getchar();
    printf("basics: getchar() = %d, at end of file: %s\n", c, feof(stdin) ? "yes" : "no");
    char *m = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        printf("basics: mmap failed\n");
        return 1;
    }
    strcpy(m, "kept");
    strcpy(m + 4096, "gone");
    int r1 = mprotect(m, 4096, PROT_READ);
    int r2 = mprotect(m + 4096, 4096, PROT_NONE);
    int r3 = mprotect(m + 4096, 4096, PROT_READ | PROT_WRITE);
    printf("basics: mprotect %d %d %d: %s, %s\n", r1, r2, r3, m, m + 4096);
    munmap(m, 8192);

    /* Time since boot: non-zero, below a day, and never going back. */
    struct timespec t0, t1, rt, res;
    int c0 = clock_gettime(CLOCK_MONOTONIC, &t0);
    volatile unsigned long sum = 0;
    for (unsigned long i = 0; i < 2000000; i++)
        sum += i;
    int c1 = clock_gettime(CLOCK_MONOTONIC, &t1);
    long long ns0 = (long long)t0.tv_sec * 1000000000LL + t0.tv_nsec;
    long long ns1 = (long long)t1.tv_sec * 1000000000LL + t1.tv_nsec;
    int mono = c0 == 0 && c1 == 0 && ns1 >= ns0;
    int nsec_ok = t0.tv_nsec >= 0 && t0.tv_nsec < 1000000000L && t1.tv_nsec >= 0 &&
                  t1.tv_nsec < 1000000000L;
    int plausible = ns0 > 0 && t1.tv_sec < 86400;
    printf("basics: clock_gettime(CLOCK_MONOTONIC): %s, tv_nsec in range: %s, plausible: %s\n",
           mono ? "monotonic" : "WENT BACK", nsec_ok ? "yes" : "no", plausible ? "yes" : "no");
    printf("basics: monotonic %lld.%09ld s, then %lld ns later\n", (long long)t0.tv_sec,
           t0.tv_nsec, ns1 - ns0);
    struct timeval tv;
    int r = clock_gettime(CLOCK_REALTIME, &rt);
    struct timezone tz = {1, 1};
    /* musl's gettimeofday reads CLOCK_REALTIME: make the syscall itself. */
    int g = (int)syscall(SYS_gettimeofday, &tv, &tz);
    g |= tz.tz_minuteswest | tz.tz_dsttime;
    printf("basics: realtime %s, gettimeofday %s\n",
           r == 0 && rt.tv_sec >= t0.tv_sec ? "ok" : "bad",
           g == 0 && tv.tv_usec >= 0 && tv.tv_usec < 1000000 && tv.tv_sec >= t0.tv_sec ? "ok"
                                                                                      : "bad");
    int gr = clock_getres(CLOCK_MONOTONIC, &res);
    printf("basics: clock_getres %s\n",
           gr == 0 && res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec < 1000000000L ? "ok"
                                                                                        : "bad");
    long bad = syscall(SYS_clock_gettime, 12345, &t0);
    int e1 = errno;
    long fault = syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)8);
    int e2 = errno;
    printf("basics: unknown clock: %ld (%s), bad pointer: %ld (%s)\n", bad, strerror(e1), fault,
           strerror(e2));
    printf("basics: exiting with status 3\n");
    return 3;
}
