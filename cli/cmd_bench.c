/* ramscli bench: load time, cold first run, steady-state per-image time stage by stage, achieved
 * GFLOP/s against this machine's sgemm rate measured on the spot, peak RSS. */
#define RAMSTRANS_EXPERIMENTAL
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

static const char bench_usage[] =
    "usage: ramscli bench [--model PATH] [--mode scale1|scale2|fused] [--runs N] [--threads N]\n"
    "                     [--input FILE] [--precision f32|bf16|int8] [--kernel NAME] [--json]\n"
    "\n"
    "Times one image through the model: model load, the first (cold) run, then N runs (default 5)\n"
    "with the time of each stage, and the GFLOP/s achieved against this machine's sgemm rate, its\n"
    "bf16 rate and its int8 rate (the bf16 and int8 kernels this CPU runs; int8 with the per-row\n"
    "quantization of the activations), all measured on the spot by the library with the same\n"
    "threads and kernels the engine uses, on the model's shapes.  The input is FILE\n"
    "(image or .npy) or, by default, a fixed pseudo-random tensor.\n"
    "\n"
    "  -m, --model PATH   model file (default: the installed default model)\n"
    "      --precision P  f32 (default; exact), bf16 (bf16 matrix products, f32 sums) or int8\n"
    "                     (int8 weights and per-token activations, int32 sums)\n"
    "      --kernel NAME  run on this matrix-product kernel of the precision (ramscli info)\n"
    "      --mode M       scale1, scale2 or fused (default: the model's)\n"
    "  -r, --runs N       timed runs after the first (default 5)\n"
    "  -t, --threads N    threads (default: the online CPUs), also for packing the weights at load\n"
    "  -i, --input FILE   classify this file instead of a random tensor\n"
    "      --json         one JSON object instead of the table\n";

/* How long the library measures the sgemm rate (rams_measure_gemm_gflops, on the model's shapes). */
#define SGEMM_SECONDS 0.3

static double peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* Linux reports KiB */
}

static int run_once(rams_context *ctx, const char *input, const float *tensor, int S,
                    const rams_run_params *p, rams_result *r)
{
    rams_status st =
        input ? rams_classify_file(ctx, input, p, r) : rams_classify_tensor(ctx, tensor, 3, S, S, p, r);
    if (st != RAMS_OK) cli_report(input ? input : "bench", rams_last_error());
    return st == RAMS_OK ? 0 : -1;
}

int cli_cmd_bench(int argc, char **argv)
{
    const char *model_path = NULL, *input = NULL;
    cli_load_options load = {RAMS_PRECISION_F32, NULL, 0};
    rams_run_params params = rams_run_default_params();
    long runs = 5, threads = cli_default_threads();
    int json = 0, first;
    const cli_option options[] = {
        CLI_STRING("model", 'm', &model_path),
        CLI_PRECISION("precision", 0, &load.precision),
        CLI_STRING("kernel", 0, &load.kernel),
        CLI_MODE("mode", 0, &params.mode),
        CLI_INT("runs", 'r', &runs, 1, 100000, NULL),
        CLI_INT("threads", 't', &threads, 1, 256, NULL),
        CLI_STRING("input", 'i', &input),
        CLI_FLAG("json", 0, &json),
        CLI_END,
    };
    const cli_command_line cl = {"bench", bench_usage, options, 0, 0, NULL, "unexpected argument '%s'"};
    int parsed = cli_parse_command_line(&cl, argc, argv, &first);
    if (parsed != CLI_PARSED) return parsed;

    load.threads = (int)threads;
    double t0 = cli_now();
    rams_model *m = cli_load_model(model_path, &load);
    if (!m) return CLI_EXIT_FAILED;
    double load_s = cli_now() - t0;
    rams_model_info info;
    rams_model_get_info(m, &info);
    rams_context_params cp = rams_context_default_params();
    cp.threads = (int)threads;
    rams_context *ctx;
    if (rams_context_create(m, &cp, &ctx) != RAMS_OK) {
        cli_report("context", rams_last_error());
        rams_model_free(m);
        return CLI_EXIT_FAILED;
    }
    int S = info.image_size;
    float *tensor = malloc(3 * (size_t)S * S * sizeof *tensor);
    if (!tensor) {
        cli_report("bench", "out of memory");
        rams_context_free(ctx), rams_model_free(m);
        return CLI_EXIT_FAILED;
    }
    /* A smooth pseudo-random field: the rollout then has structure, as on a real image. */
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++)
                tensor[((size_t)ch * S + y) * S + x] =
                    (float)(((x * 7 + y * 13 + ch * 5) * 2654435761u >> 16) % 2000) * 1e-3f - 1.0f +
                    2.0f * (float)((x - S / 3) * (x - S / 3) + (y - S / 2) * (y - S / 2) < S * S / 16);

    rams_result r;
    t0 = cli_now();
    int failed = run_once(ctx, input, tensor, S, &params, &r);
    double cold_s = cli_now() - t0;
    double stage[RAMS_STAGE_COUNT] = {0}, s[RAMS_STAGE_COUNT], total = 0;
    for (long i = 0; i < runs && !failed; i++) {
        t0 = cli_now();
        failed = run_once(ctx, input, tensor, S, &params, &r);
        total += cli_now() - t0;
        rams_context_stage_seconds(ctx, s);
        for (int k = 0; k < RAMS_STAGE_COUNT; k++) stage[k] += s[k];
    }
    if (failed) {
        free(tensor), rams_context_free(ctx), rams_model_free(m);
        return CLI_EXIT_FAILED;
    }
    double per_image = total / runs, flops = rams_model_flops(m, r.mode);
    double rss = peak_rss_mb();
    double sgemm = 0, bf16 = 0, int8 = 0;
    const char *bf16_kernel = rams_kernel_for(RAMS_PRECISION_BF16),
               *int8_kernel = rams_kernel_for(RAMS_PRECISION_INT8);
    /* The bf16 and int8 rates of the kernel the model runs on when it is one, else of this CPU's. */
    if (info.precision == RAMS_PRECISION_BF16) bf16_kernel = info.kernel;
    if (info.precision == RAMS_PRECISION_INT8) int8_kernel = info.kernel;
    if (rams_measure_gemm_gflops(m, (int)threads, SGEMM_SECONDS, &sgemm) != RAMS_OK ||
        (bf16_kernel &&
         rams_measure_kernel_gflops(m, bf16_kernel, (int)threads, SGEMM_SECONDS, &bf16) != RAMS_OK) ||
        (int8_kernel &&
         rams_measure_kernel_gflops(m, int8_kernel, (int)threads, SGEMM_SECONDS, &int8) != RAMS_OK)) {
        cli_report("bench", rams_last_error());
        free(tensor), rams_context_free(ctx), rams_model_free(m);
        return CLI_EXIT_FAILED;
    }
    double achieved = flops / per_image / 1e9;

    if (json) {
        cJSON *o = cJSON_CreateObject(), *st = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "mode", rams_mode_name(r.mode));
        cJSON_AddNumberToObject(o, "threads", (double)threads);
        cJSON_AddNumberToObject(o, "runs", (double)runs);
        cJSON_AddNumberToObject(o, "load_s", load_s);
        cJSON_AddNumberToObject(o, "cold_s", cold_s);
        cJSON_AddNumberToObject(o, "per_image_s", per_image);
        cJSON_AddNumberToObject(o, "images_per_s", 1.0 / per_image);
        for (int k = 0; k < RAMS_STAGE_COUNT; k++)
            cJSON_AddNumberToObject(st, rams_stage_name((rams_stage)k), stage[k] / runs);
        cJSON_AddItemToObject(o, "stages_s", st);
        cJSON_AddNumberToObject(o, "gflop_per_image", flops / 1e9);
        cJSON_AddNumberToObject(o, "gflops", achieved);
        cJSON_AddNumberToObject(o, "sgemm_gflops", sgemm);
        cJSON_AddStringToObject(o, "precision", rams_precision_name(info.precision));
        cJSON_AddStringToObject(o, "kernel", info.kernel ? info.kernel : "unknown");
        cJSON_AddStringToObject(o, "attention_kernel",
                                info.attention_kernel ? info.attention_kernel : "unknown");
        if (bf16_kernel) cJSON_AddStringToObject(o, "bf16_kernel", bf16_kernel);
        else cJSON_AddNullToObject(o, "bf16_kernel");
        cJSON_AddNumberToObject(o, "bf16_gflops", bf16);
        if (int8_kernel) cJSON_AddStringToObject(o, "int8_kernel", int8_kernel);
        else cJSON_AddNullToObject(o, "int8_kernel");
        cJSON_AddNumberToObject(o, "int8_gops", int8); /* with the quantization of the activations */
        cJSON_AddStringToObject(o, "cpu_features", rams_cpu_features());
        cJSON_AddNumberToObject(o, "peak_rss_mb", rss);
        char *text = cJSON_PrintUnformatted(o);
        if (text) puts(text);
        free(text);
        cJSON_Delete(o);
    } else {
        printf("model       %s: %dx%d, patch %d, %d layers, hidden %d, %s\n",
               model_path ? model_path : "(default)", S, S, info.patch_size, info.num_layers,
               info.hidden_size, info.dtype);
        printf("mode        %s, %ld thread%s, %ld runs\n", rams_mode_name(r.mode), threads,
               threads == 1 ? "" : "s", runs);
        printf("precision   %s, kernel %s, attention %s (this CPU: %s)\n",
               rams_precision_name(info.precision), info.kernel ? info.kernel : "?",
               info.attention_kernel ? info.attention_kernel : "?",
               *rams_cpu_features() ? rams_cpu_features() : "none of avx2/avx512/amx");
        printf("load        %8.1f ms\n", load_s * 1e3);
        printf("first run   %8.1f ms (cold)\n", cold_s * 1e3);
        printf("per image   %8.1f ms (%.1f images/s)\n", per_image * 1e3, 1.0 / per_image);
        for (int k = 0; k < RAMS_STAGE_COUNT; k++)
            printf("  %-16s %8.2f ms\n", rams_stage_name((rams_stage)k), stage[k] / runs * 1e3);
        printf("arithmetic  %.2f GFLOP per image, %.1f GFLOP/s; sgemm here %.1f GFLOP/s (%.0f%%)",
               flops / 1e9, achieved, sgemm, sgemm > 0 ? 100 * achieved / sgemm : 0);
        if (bf16_kernel)
            printf(", %s %.1f GFLOP/s (%.0f%%)", bf16_kernel, bf16, bf16 > 0 ? 100 * achieved / bf16 : 0);
        if (int8_kernel)
            printf(", %s %.1f GOP/s (%.0f%%)", int8_kernel, int8, int8 > 0 ? 100 * achieved / int8 : 0);
        printf("\n");
        printf("peak RSS    %.1f MB\n", rss);
    }
    free(tensor);
    rams_context_free(ctx);
    rams_model_free(m);
    return CLI_EXIT_OK;
}
