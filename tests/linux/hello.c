/* The first Linux program rint runs: a static musl hello-world that also
 * makes malloc reach brk/mmap, so the memory syscalls really matter.
 * tests/tests/linux.rs matches its lines exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    printf("hello from Linux on rint: %s, argc=%d\n", argc > 0 ? argv[0] : "?", argc);

    /* A small and a large allocation: musl takes the first from brk and
     * the second (above its mmap threshold) from mmap. */
    size_t small = 1000, large = 200 * 1024;
    char *a = malloc(small), *b = malloc(large);
    if (!a || !b) {
        printf("malloc failed\n");
        return 1;
    }
    memset(a, 'a', small);
    memset(b, 'b', large);
    unsigned long sum = 0;
    for (size_t i = 0; i < large; i += 4096)
        sum += (unsigned char)b[i];
    printf("malloc: %zu + %zu bytes ok, sum=%lu\n", small, large, sum + (unsigned char)a[small - 1]);
    free(b);
    free(a);
    return 0;
}
