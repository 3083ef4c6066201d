/* ramscli quantize: a q8 model file (int8 Linear weights with per-row f32 scales) from a model file
 * of f32, f16 or bf16 weights, through rams_quantize_model_file: the same bytes tools/convert.py
 * --dtype q8 writes from the same weights, without Python. */
#include <stdio.h>
#include <sys/stat.h>

#include "cli.h"

static const char quantize_usage[] =
    "usage: ramscli quantize --model IN.safetensors --out OUT.safetensors\n"
    "\n"
    "Writes a q8 model file: every Linear weight matrix but the patch embedding as int8 with one\n"
    "f32 scale per output row (scale = max|w| / 127, q = w / scale rounded to nearest even), the\n"
    "rest f32; about 0.26 of an f32 file's size for ViT-B/16.  IN holds f32, f16 or bf16 weights;\n"
    "the bytes are those of 'tools/convert.py --dtype q8' from the same weights.  A q8 file runs\n"
    "with --precision int8 (any command); in f32 or bf16 its weights are dequantized.  OUT is\n"
    "written beside itself and renamed into place.\n"
    "\n"
    "  -m, --model IN     the model file to quantize (default: the default model)\n"
    "  -o, --out OUT      the q8 model file to write\n"
    "  -h, --help         this text\n";

int cli_cmd_quantize(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    const cli_option options[] = {
        CLI_STRING("model", 'm', &in),
        CLI_FILE("out", 'o', &out),
        CLI_END,
    };
    const cli_command_line cl = {"quantize", quantize_usage, options, 0, 0, NULL, "unexpected argument '%s'"};
    int first, parsed = cli_parse_command_line(&cl, argc, argv, &first);
    if (parsed != CLI_PARSED) return parsed;
    if (!out) return cli_usage_error("quantize", "--out OUT.safetensors is required");
    if (!in) in = rams_default_model_path();
    if (!in) {
        cli_report("quantize", "no model given and no default model found");
        return CLI_EXIT_FAILED;
    }
    if (rams_quantize_model_file(in, out) != RAMS_OK) {
        cli_report(in, rams_last_error());
        return CLI_EXIT_FAILED;
    }
    struct stat si, so;
    if (stat(in, &si) == 0 && stat(out, &so) == 0)
        printf("%s: q8, %.1f MB (%.3f of %s's %.1f MB)\n", out, so.st_size / 1e6,
               (double)so.st_size / (double)si.st_size, in, si.st_size / 1e6);
    return CLI_EXIT_OK;
}
