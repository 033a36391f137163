/* A Linux program that touches 2 MiB, which fits the Linux server's memory
 * quota in images/test-linux.toml, then 16 MiB more, which does not: the
 * server must end it with SIGSEGV and the reason, and carry on. */
#include <stdio.h>
#include <stdlib.h>

static int touch(size_t size)
{
    volatile char *p = malloc(size);
    if (!p)
        return 0;
    for (size_t i = 0; i < size; i += 4096)
        p[i] = 1;
    return 1;
}

int main(void)
{
    if (!touch(2 << 20)) {
        printf("toobig: malloc failed\n");
        return 1;
    }
    printf("toobig: 2048 KiB touched\n");
    printf("toobig: touching 16384 KiB more\n");
    if (!touch(16 << 20)) {
        printf("toobig: malloc failed\n");
        return 1;
    }
    printf("toobig: all touched\n");
    return 0;
}
