/* ramscli info: describes a model file (architecture, dtype, preprocessing, labels, ...). */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *const info_usage =
    "usage: ramscli info [--model PATH] [--precision f32|bf16|int8] [--kernel NAME] [--json]\n"
    "\n"
    "Describes a model file: architecture, weight dtype, preprocessing, labels, default mode,\n"
    "file size, and the library version; the precision and matrix-product kernel it is loaded\n"
    "with, what this CPU offers (CPUID and XCR0) and the kernel each precision runs on here.\n"
    "\n"
    "  -m, --model PATH   the model file (default: the default model)\n"
    "      --precision P  load it in f32 (default), bf16 or int8\n"
    "      --kernel NAME  load it on this kernel of the precision\n"
    "      --json         one JSON object on one line\n"
    "  -h, --help         this text\n";

static void print_info_text(const char *path, const rams_model *m, const rams_model_info *in)
{
    printf("model         %s\n", path ? path : "(default)");
    if (in->file_bytes >= 1000000) printf("file          %.1f MB, ", in->file_bytes / 1e6);
    else printf("file          %.1f kB, ", in->file_bytes / 1e3);
    printf("weights %s\n", in->dtype ? in->dtype : "?");
    printf("architecture  ViT, input %dx%d, patch %d (grid %dx%d), hidden %d, %d heads, %d layers,\n"
           "              MLP %d, LayerNorm eps %g\n",
           in->image_size, in->image_size, in->patch_size, in->grid, in->grid, in->hidden_size, in->num_heads,
           in->num_layers, in->mlp_size, in->ln_eps);
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
    else printf("no resize, ");
    printf("center crop %dx%d,\n              mean (%g, %g, %g), std (%g, %g, %g)\n", pp->crop_width,
           pp->crop_height, pp->mean[0], pp->mean[1], pp->mean[2], pp->std[0], pp->std[1], pp->std[2]);
    printf("classes       %d:", in->num_classes);
    int shown = in->num_classes < 6 ? in->num_classes : 6;
    for (int i = 0; i < shown; i++) {
        const char *l = rams_model_label(m, i);
        printf("%s %s", i ? "," : "", l ? l : "?");
    }
    printf("%s\n", shown < in->num_classes ? ", ..." : "");
    printf("precision     %s, kernel %s, attention %s\n", rams_precision_name(in->precision),
           in->kernel ? in->kernel : "?", in->attention_kernel ? in->attention_kernel : "?");
    printf("this CPU      %s\n", *rams_cpu_features() ? rams_cpu_features() : "(none of avx2, avx512, amx)");
    printf("kernels here ");
    for (int p = RAMS_PRECISION_F32; p <= RAMS_PRECISION_INT8; p++) {
        const char *k = rams_kernel_for((rams_precision)p);
        printf("%s %s: %s", p ? "," : "", rams_precision_name((rams_precision)p), k ? k : "not supported");
    }
    printf("\n");
    printf("library       %s\n", rams_version_string());
}

int cli_cmd_info(int argc, char **argv)
{
    const char *model_path = NULL;
    cli_load_options load = {RAMS_PRECISION_F32, NULL, 0};
    int json = 0, first;
    const cli_option options[] = {
        CLI_STRING("model", 'm', &model_path),
        CLI_PRECISION("precision", 0, &load.precision),
        CLI_STRING("kernel", 0, &load.kernel),
        CLI_FLAG("json", 0, &json),
        CLI_END,
    };
    const cli_command_line cl = {"info", info_usage, options, 0, 0, NULL, "unexpected argument '%s'"};
    int parsed = cli_parse_command_line(&cl, argc, argv, &first);
    if (parsed != CLI_PARSED) return parsed;

    rams_model *m = cli_load_model(model_path, &load);
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
