/* main.c: drrepo's entry point; everything happens in dr_cli_main (src/cmd/cmd.c). */
#include "drrepo/cli.h"

int main(int argc, char **argv)
{
    return dr_cli_main(argc, argv);
}
