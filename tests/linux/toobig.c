/* A Linux program that touches more memory than the Linux server can map
 * for one process (each mapped page takes a slot of the server's 256-slot
 * CNode: CAVEATS.md). The server must end it with SIGSEGV and the reason,
 * and carry on. */
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    size_t size = 2 << 20;
    volatile char *p = malloc(size);
    if (!p) {
        printf("toobig: malloc failed\n");
        return 1;
    }
    printf("toobig: touching %zu KiB\n", size >> 10);
    for (size_t i = 0; i < size; i += 4096)
        p[i] = 1;
    printf("toobig: all touched\n");
    return 0;
}
