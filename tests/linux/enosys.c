/* A Linux program that makes a syscall rint's Linux server does not
 * implement (getpid): it must get ENOSYS back, not kill the server. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    long r = syscall(SYS_getpid);
    printf("getpid: %ld (%s)\n", r, r < 0 ? strerror(errno) : "ok");
    return r < 0 && errno == ENOSYS ? 3 : 0;
}
