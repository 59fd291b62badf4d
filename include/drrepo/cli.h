/* cli.h: the command-line entry point. Only src/cmd/ parses argv, prints to stdout and chooses
 * exit codes (docs/exit-codes.md). */
#ifndef DR_CLI_H
#define DR_CLI_H

/* Runs drrepo with argv and returns the process exit code. */
int dr_cli_main(int argc, char **argv);

#endif
