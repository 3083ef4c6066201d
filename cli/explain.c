/* ramscli explain: draws where the model looked (a later job; issue 3 item 4). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cli_cmd_explain(int argc, char **argv) {
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        puts("usage: ramscli explain [--model PATH] [--out OUT.png] [--rollout FILE.npy] IMAGE\n\n"
             "(not implemented yet)");
        return CLI_EXIT_OK;
    }
    cli_report("explain", "not implemented yet");
    return CLI_EXIT_FAILED;
}
