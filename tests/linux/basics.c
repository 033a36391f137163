/* A Linux program that asks the system about itself and reads its input:
 * uname, getpid, gettid, getuid, read and stdio on standard input (which
 * is at end of file: the console gives Linux programs no input yet),
 * mprotect of touched pages (read-only, and PROT_NONE then read-write,
 * both keeping the bytes), and
 * exits with status 3, which the server must report as such.
 * tests/tests/linux.rs matches its lines. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
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
    printf("basics: exiting with status 3\n");
    return 3;
}
