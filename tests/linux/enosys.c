/* A Linux program that makes syscalls rint's Linux server does not
 * implement: a number no Linux has (999) and one it has (getppid). Both
 * must return ENOSYS, and the server must keep serving. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int try(const char *what, long nr)
{
    long r = syscall(nr);
    int e = errno;
    printf("enosys: %s: %ld (%s)\n", what, r, r < 0 ? strerror(e) : "ok");
    return r == -1 && e == ENOSYS;
}

int main(void)
{
    int ok = try("syscall 999", 999);
    ok &= try("getppid", SYS_getppid);
    return ok ? 0 : 1;
}
