/* main.c: drrepo's entry point; everything happens in dr_cli_main (src/cmd/cmd.c). */
#include "drrepo/cli.h"

#if defined(__SANITIZE_ADDRESS__)
/* The index's damage guard (src/index/guard.c) installs its own SIGSEGV/SIGBUS handler and
 * passes every fault that is not in the index's map on to the sanitizer's; without this the
 * sanitizer keeps the signals to itself and a damaged cache would look like a crash. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allow_user_segv_handler=1";
}
#endif

int main(int argc, char **argv)
{
    return dr_cli_main(argc, argv);
}
