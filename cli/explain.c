/* ramscli explain: draws where the model looked (a later job; issue 3 item 4). */
#include "cli.h"

int cli_cmd_explain(int argc, char **argv) {
    cli_report("explain", "not implemented yet");
    return CLI_EXIT_FAILED;
}
