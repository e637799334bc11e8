/*
 * key_cli.h — `conveyor key new|server|revoke|list` (key_cli.c).
 */
#ifndef TOOLS_KEY_CLI_H
#define TOOLS_KEY_CLI_H

/* argv starts after "key"; returns the process exit status. */
int key_cli_run(int argc, char **argv);

#endif
