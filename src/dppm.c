#include "dppm.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

void rams_rollout(const float *maps, int layers, int n_tokens, int cls_tokens, double *v, double *work)
{
    size_t N = (size_t)n_tokens;
    double *r = work, *next = work + N;
    for (size_t j = 0; j < N; j++) r[j] = 1.0 / (double)N;
    /* r <- r B_l for l = L..1, where B_l[i,:] = (A_l[i,:] + e_i) / s_i and s_i is the computed
     * row sum of A_l + I (the released code divides by it rather than assuming 2). */
    for (int l = layers - 1; l >= 0; l--) {
        const float *A = maps + (size_t)l * N * N;
        memset(next, 0, N * sizeof *next);
        for (size_t i = 0; i < N; i++) {
            const float *row = A + i * N;
            double s = 1.0;
            for (size_t j = 0; j < N; j++) s += row[j];
            double f = r[i] / s;
            for (size_t j = 0; j < N; j++) next[j] += f * row[j];
            next[i] += f;
        }
        double *t = r;
        r = next;
        next = t;
    }
    for (size_t j = (size_t)cls_tokens; j < N; j++) v[j - (size_t)cls_tokens] = r[j];
}

int rams_threshold(const double *v, int cells, double alpha, float *p, double *t, unsigned char *mask)
{
    double mx = v[0], sum = 0;
    for (int i = 1; i < cells; i++) mx = v[i] > mx ? v[i] : mx;
    int ok = mx > 0 && isfinite(mx);
    for (int i = 0; i < cells; i++) sum += ok ? v[i] / mx : 0;
    *t = ok ? alpha * (sum / cells) : 0;
    int set = 0;
    for (int i = 0; i < cells; i++) {
        double pi = ok ? v[i] / mx : 0;
        p[i] = (float)pi;
        mask[i] = ok && isfinite(pi) && pi > *t;
        set += mask[i];
    }
    return set;
}

int rams_largest_component(unsigned char *mask, int grid, int *stack, int *r0, int *c0, int *r1, int *c1)
{
    int cells = grid * grid, best_area = 0, best_seed = -1;
    /* Label pass: visited cells get bit 4 (0x4) so the mask keeps its 0/1 meaning. */
    for (int seed = 0; seed < cells; seed++) {
        if (!(mask[seed] & 1) || (mask[seed] & 4)) continue;
        int top = 0, area = 0;
        stack[top++] = seed;
        mask[seed] |= 4;
        while (top) {
            int cell = stack[--top], y = cell / grid, x = cell % grid;
            area++;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if (yy < 0 || yy >= grid || xx < 0 || xx >= grid) continue;
                    int nb = yy * grid + xx;
                    if ((mask[nb] & 1) && !(mask[nb] & 4)) {
                        mask[nb] |= 4;
                        stack[top++] = nb;
                    }
                }
        }
        /* Strictly larger: on a tie the earlier seed in row-major order stays. */
        if (area > best_area) best_area = area, best_seed = seed;
    }
    for (int i = 0; i < cells; i++) mask[i] &= 1;
    *r0 = *c0 = *r1 = *c1 = 0;
    if (best_seed < 0) return 0;
    /* Flood the winner again, marking it 2 and taking its bounds. */
    int top = 0;
    stack[top++] = best_seed;
    mask[best_seed] = 2;
    *r0 = *r1 = best_seed / grid;
    *c0 = *c1 = best_seed % grid;
    while (top) {
        int cell = stack[--top], y = cell / grid, x = cell % grid;
        if (y < *r0) *r0 = y;
        if (y > *r1) *r1 = y;
        if (x < *c0) *c0 = x;
        if (x > *c1) *c1 = x;
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                int yy = y + dy, xx = x + dx;
                if (yy < 0 || yy >= grid || xx < 0 || xx >= grid) continue;
                int nb = yy * grid + xx;
                if (mask[nb] == 1) {
                    mask[nb] = 2;
                    stack[top++] = nb;
                }
            }
    }
    return best_area;
}

rams_box rams_cells_to_box(int area, int r0, int c0, int r1, int c1, int patch, int image_size)
{
    rams_box b = {0, 0, image_size - 1, image_size - 1};
    if (area == 0) return b;
    b.top = r0 * patch - 1 > 0 ? r0 * patch - 1 : 0;
    b.left = c0 * patch - 1 > 0 ? c0 * patch - 1 : 0;
    b.bottom = (r1 + 1) * patch - 1;
    b.right = (c1 + 1) * patch - 1;
    return b;
}

void rams_zoom_crop(const float *image, int S, rams_box box, float *out)
{
    int in_h = box.bottom - box.top + 1, in_w = box.right - box.left + 1;
    /* align_corners = True: source = dst * (in - 1) / (out - 1), the ratio computed in float as
     * PyTorch's CPU kernel does for float tensors. */
    float sh = S > 1 ? (float)(in_h - 1) / (float)(S - 1) : 0.0f;
    float sw = S > 1 ? (float)(in_w - 1) / (float)(S - 1) : 0.0f;
    for (int c = 0; c < 3; c++) {
        const float *src = image + (size_t)c * S * S + (size_t)box.top * S + box.left;
        float *dst = out + (size_t)c * S * S;
        for (int oy = 0; oy < S; oy++) {
            float fy = sh * (float)oy;
            int y0 = (int)fy, yp = y0 < in_h - 1 ? 1 : 0;
            float ly1 = fy - (float)y0, ly0 = 1.0f - ly1;
            const float *row0 = src + (size_t)y0 * S, *row1 = row0 + (size_t)yp * S;
            for (int ox = 0; ox < S; ox++) {
                float fx = sw * (float)ox;
                int x0 = (int)fx, xp = x0 < in_w - 1 ? 1 : 0;
                float lx1 = fx - (float)x0, lx0 = 1.0f - lx1;
                dst[(size_t)oy * S + ox] = ly0 * (lx0 * row0[x0] + lx1 * row0[x0 + xp]) +
                                           ly1 * (lx0 * row1[x0] + lx1 * row1[x0 + xp]);
            }
        }
    }
}

size_t rams_dppm_work_bytes(int n_tokens, int grid)
{
    return (2 * (size_t)n_tokens + (size_t)grid * grid) * sizeof(double) + (size_t)grid * grid * sizeof(int);
}

/* work: 2*N doubles of rollout scratch, then v (G*G doubles), then the component stack (G*G ints). */
const double *rams_dppm_rollout(const float *maps, int layers, int n_tokens, int cls_tokens, void *work)
{
    double *rollout_work = work, *v = rollout_work + 2 * (size_t)n_tokens;
    rams_rollout(maps, layers, n_tokens, cls_tokens, v, rollout_work);
    return v;
}

rams_box rams_dppm_box(int n_tokens, int grid, int patch, double alpha, const float *image, float *crop,
                       float *p, unsigned char *mask, float *threshold, int *fallback, void *work)
{
    const double *v = (const double *)work + 2 * (size_t)n_tokens;
    int *stack = (int *)(v + (size_t)grid * grid);
    int cells = grid * grid, image_size = grid * patch, r0, c0, r1, c1;
    double t;
    rams_threshold(v, cells, alpha, p, &t, mask);
    int area = rams_largest_component(mask, grid, stack, &r0, &c0, &r1, &c1);
    rams_box box = rams_cells_to_box(area, r0, c0, r1, c1, patch, image_size);
    *threshold = (float)t;
    *fallback = area == 0;
    rams_zoom_crop(image, image_size, box, crop);
    return box;
}

rams_box rams_dppm(const float *maps, int layers, int n_tokens, int grid, int patch, double alpha,
                   const float *image, float *crop, float *p, unsigned char *mask, float *threshold,
                   int *fallback, void *work)
{
    rams_dppm_rollout(maps, layers, n_tokens, n_tokens - grid * grid, work);
    return rams_dppm_box(n_tokens, grid, patch, alpha, image, crop, p, mask, threshold, fallback, work);
}
