/* A minimal program outside the library: classifies one image and prints the five most probable
 * labels.
 *
 *   cc classify.c $(pkg-config --cflags --libs ramstrans) -o classify
 *   ./classify bird.jpg [model.safetensors]
 *
 * IMAGE may be a JPEG, a PNG, a WebP or a .npy tensor that is already preprocessed
 * (3 x S x S float32).  Without MODEL the default model is used. */
#include <stdio.h>

#include <ramstrans.h>

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s IMAGE [MODEL]\n", argv[0]);
        return 2;
    }
    if (rams_version_number() / 100 != RAMSTRANS_VERSION_NUMBER / 100)
        fprintf(stderr, "warning: built with libramstrans %s, running with %s\n", RAMSTRANS_VERSION_STRING,
                rams_version_string());

    rams_model_params model_params = rams_model_default_params();
    rams_model *model = NULL;
    if (rams_model_load(argc > 2 ? argv[2] : NULL, &model_params, &model) != RAMS_OK) {
        fprintf(stderr, "%s\n", rams_last_error());
        return 1;
    }
    rams_context *ctx = NULL;
    if (rams_context_create(model, NULL, &ctx) != RAMS_OK) {
        fprintf(stderr, "%s\n", rams_last_error());
        rams_model_free(model);
        return 1;
    }
    rams_run_params run_params = rams_run_default_params();
    run_params.top_k = 5;
    rams_result result;
    int status = 0;
    if (rams_classify_file(ctx, argv[1], &run_params, &result) != RAMS_OK) {
        fprintf(stderr, "%s\n", rams_last_error());
        status = 1;
    } else {
        for (int i = 0; i < result.top_k; i++)
            printf("%d. %-24s %.4f\n", i + 1, result.top[i].label, result.top[i].prob);
    }
    rams_context_free(ctx);
    rams_model_free(model);
    return status;
}
