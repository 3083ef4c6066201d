/* oneDNN's matmul on the ViT-B/16 GEMM shapes, bf16 (bf16 operands, f32 output) and f32, for the
 * dependency choice of issue 12 (bench/README.md, "bf16").  Not part of the build: oneDNN is no
 * dependency of libramstrans.
 *
 *   apt-get install libdnnl-dev
 *   cc -O2 tools/bench/onednn_matmul.c -ldnnl -o /tmp/onednn_matmul
 *   OMP_NUM_THREADS=2 ONEDNN_VERBOSE=1 /tmp/onednn_matmul [SECONDS]
 *
 * Prints, per shape and data type, GFLOP/s (weights reordered once into oneDNN's layout, as a
 * library packing at load would; activations given in bf16, i.e. converted outside the timing)
 * and the implementation oneDNN chose. */
#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHECK(x)                                                                         \
    do {                                                                                 \
        dnnl_status_t s_ = (x);                                                          \
        if (s_ != dnnl_success) {                                                        \
            fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #x, (int)s_); \
            return -1;                                                                   \
        }                                                                                \
    } while (0)

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int run(dnnl_engine_t eng, dnnl_stream_t stream, int M, int K, int N, dnnl_data_type_t dt,
               double seconds)
{
    dnnl_memory_desc_t a_md, b_md, c_md, b_any;
    dnnl_dims_t a_dims = {M, K}, b_dims = {K, N}, c_dims = {M, N};
    CHECK(dnnl_memory_desc_init_by_tag(&a_md, 2, a_dims, dt, dnnl_ab));
    CHECK(dnnl_memory_desc_init_by_tag(&b_md, 2, b_dims, dt, dnnl_ba)); /* W [N, K] as PyTorch stores it */
    CHECK(dnnl_memory_desc_init_by_tag(&b_any, 2, b_dims, dt, dnnl_format_tag_any));
    CHECK(dnnl_memory_desc_init_by_tag(&c_md, 2, c_dims, dnnl_f32, dnnl_ab));
    dnnl_matmul_desc_t desc;
    CHECK(dnnl_matmul_desc_init(&desc, &a_md, &b_any, NULL, &c_md));
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL);
    if (st != dnnl_success) {
        printf("  %4d x %4d x %4d %s: no implementation (%d)\n", M, K, N, dt == dnnl_bf16 ? "bf16" : "f32 ",
               (int)st);
        return 0;
    }
    const char *impl = NULL;
    CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
    const dnnl_memory_desc_t *b_chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_t a, b_plain, b, c;
    CHECK(dnnl_memory_create(&a, &a_md, eng, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&b_plain, &b_md, eng, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&b, b_chosen, eng, DNNL_MEMORY_ALLOCATE));
    CHECK(dnnl_memory_create(&c, &c_md, eng, DNNL_MEMORY_ALLOCATE));
    void *p;
    CHECK(dnnl_memory_get_data_handle(a, &p));
    memset(p, 0x3c, dnnl_memory_desc_get_size(&a_md));
    CHECK(dnnl_memory_get_data_handle(b_plain, &p));
    memset(p, 0x3c, dnnl_memory_desc_get_size(&b_md));
    /* Weights into the primitive's layout once (a load-time packing). */
    dnnl_primitive_desc_t rpd;
    CHECK(dnnl_reorder_primitive_desc_create(&rpd, &b_md, eng, b_chosen, eng, NULL));
    dnnl_primitive_t reorder;
    CHECK(dnnl_primitive_create(&reorder, rpd));
    dnnl_exec_arg_t rargs[] = {{DNNL_ARG_FROM, b_plain}, {DNNL_ARG_TO, b}};
    CHECK(dnnl_primitive_execute(reorder, stream, 2, rargs));
    dnnl_primitive_t mm;
    CHECK(dnnl_primitive_create(&mm, pd));
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}};
    CHECK(dnnl_primitive_execute(mm, stream, 3, args)); /* warm-up */
    CHECK(dnnl_stream_wait(stream));
    int reps = 0;
    double t0 = now(), t;
    do {
        CHECK(dnnl_primitive_execute(mm, stream, 3, args));
        CHECK(dnnl_stream_wait(stream));
        reps++;
    } while ((t = now() - t0) < seconds);
    printf("  %4d x %4d x %4d %s: %7.1f GFLOP/s  (%s)\n", M, K, N, dt == dnnl_bf16 ? "bf16" : "f32 ",
           2.0 * M * K * N * reps / t / 1e9, impl);
    dnnl_primitive_destroy(mm), dnnl_primitive_destroy(reorder), dnnl_primitive_desc_destroy(rpd);
    dnnl_primitive_desc_destroy(pd);
    dnnl_memory_destroy(a), dnnl_memory_destroy(b_plain), dnnl_memory_destroy(b), dnnl_memory_destroy(c);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 1.0;
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHECK(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
    const dnnl_version_t *v = dnnl_version();
    printf("oneDNN %d.%d.%d (%s), ViT-B/16 at 448 shapes (M = 786 tokens):\n", v->major, v->minor, v->patch,
           v->cpu_runtime == DNNL_RUNTIME_OMP ? "OpenMP" : "other runtime");
    int shapes[][3] = {{786, 768, 2304}, {786, 768, 3072}, {786, 3072, 768}};
    for (int i = 0; i < 3; i++)
        for (int d = 0; d < 2; d++)
            if (run(eng, stream, shapes[i][0], shapes[i][1], shapes[i][2], d ? dnnl_f32 : dnnl_bf16, seconds))
                return 1;
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(eng);
    return 0;
}
