/* A Linux program that reads address 0: rint's Linux server must report
 * SIGSEGV and kill it, and carry on with the next program. */
#include <stdio.h>

int main(void)
{
    printf("segv: reading address 0\n");
    volatile int *p = (volatile int *)0;
    return *p;
}
