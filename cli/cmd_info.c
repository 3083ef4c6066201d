/* ramscli info: describes a model file (architecture, dtype, preprocessing, labels, ...). */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *const info_usage =
    "usage: ramscli info [--model PATH] [--json]\n"
    "\n"
    "Describes a model file: architecture, weight dtype, preprocessing, labels, default mode,\n"
    "file size, and the library version.\n"
    "\n"
    "  -m, --model PATH   the model file (default: the default model)\n"
    "      --json         one JSON object on one line\n"
    "  -h, --help         this text\n";

static void print_info_text(const char *path, const rams_model *m, const rams_model_info *in) {
    printf("model         %s\n", path ? path : "(default)");
    if (in->file_bytes >= 1000000)
        printf("file          %.1f MB, ", in->file_bytes / 1e6);
    else
        printf("file          %.1f kB, ", in->file_bytes / 1e3);
    printf("weights %s\n", in->dtype ? in->dtype : "?");
    printf("architecture  ViT, input %dx%d, patch %d (grid %dx%d), hidden %d, %d heads, %d layers,\n"
           "              MLP %d, LayerNorm eps %g\n",
           in->image_size, in->image_size, in->patch_size, in->grid, in->grid, in->hidden_size,
           in->num_heads, in->num_layers, in->mlp_size, in->ln_eps);
    int cls = in->num_cls_tokens;
    printf("CLS tokens    %d (%s)\n", cls,
           cls == 1 ? "a plain ViT: both scales read it"
                    : "RAMS-Trans: scale 1 reads the first, scale 2 the second");
    printf("DPPM alpha    %g\n", in->alpha);
    printf("default mode  %s\n", rams_mode_name(in->default_mode));
    const rams_preprocess *pp = &in->preprocess;
    printf("preprocess    ");
    if (pp->resize_mode == RAMS_RESIZE_FIXED)
        printf("resize to %dx%d (bilinear), ", pp->resize_width, pp->resize_height);
    else if (pp->resize_mode == RAMS_RESIZE_SHORTER)
        printf("resize shorter side to %d (bilinear), ", pp->resize_shorter);
    else
        printf("no resize, ");
    printf("center crop %dx%d,\n              mean (%g, %g, %g), std (%g, %g, %g)\n", pp->crop_width,
           pp->crop_height, pp->mean[0], pp->mean[1], pp->mean[2], pp->std[0], pp->std[1],
           pp->std[2]);
    printf("classes       %d:", in->num_classes);
    int shown = in->num_classes < 6 ? in->num_classes : 6;
    for (int i = 0; i < shown; i++) {
        const char *l = rams_model_label(m, i);
        printf("%s %s", i ? "," : "", l ? l : "?");
    }
    printf("%s\n", shown < in->num_classes ? ", ..." : "");
    printf("library       %s\n", rams_version_string());
}

int cli_cmd_info(int argc, char **argv) {
    const char *model_path = NULL;
    int json = 0, first;
    const cli_option options[] = {
        CLI_STRING("model", 'm', &model_path),
        CLI_FLAG("json", 0, &json),
        CLI_END,
    };
    const cli_command_line cl = {"info", info_usage, options, 0, 0, NULL, "unexpected argument '%s'"};
    int parsed = cli_parse_command_line(&cl, argc, argv, &first);
    if (parsed != CLI_PARSED) return parsed;

    rams_model *m = cli_load_model(model_path, NULL);
    if (!m) return CLI_EXIT_FAILED;
    const char *shown_path = model_path ? model_path : rams_default_model_path();
    rams_model_info info;
    int rc = CLI_EXIT_OK;
    if (rams_model_get_info(m, &info) != RAMS_OK) {
        cli_report(shown_path, rams_last_error());
        rc = CLI_EXIT_FAILED;
    } else if (json) {
        char *text = cli_info_json(shown_path, m, &info);
        if (text) puts(text);
        else cli_report("info", "out of memory"), rc = CLI_EXIT_FAILED;
        free(text);
    } else {
        print_info_text(shown_path, m, &info);
    }
    rams_model_free(m);
    return rc;
}
