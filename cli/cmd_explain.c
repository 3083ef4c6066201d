/* ramscli explain: one PNG that shows where the model looked.
 *
 *   +--------------------------------------------------------------+
 *   | title: the file                                               |
 *   | input + attention rollout        zoomed crop (scale-2 input)  |
 *   | [input, heatmap, mask, box]      [the crop DPPM made]         |
 *   | [colour bar 0 .. t .. 1]                                      |
 *   | legend: box, kept component, other cells above t              |
 *   | scale 1 / scale 2 / fused: top-3 labels with probability bars |
 *   +--------------------------------------------------------------+
 *
 * The model always runs in fused mode here (both scales, DPPM), because the picture needs the
 * rollout, the box and the crop; --mode only chooses which of the three predictions is marked
 * as the answer (classify would give that one).  Panels are the network's input pixels scaled
 * up by an integer factor (nearest neighbour, so every input pixel stays a visible square) to
 * at least 320 px; the heatmap is drawn per grid cell because DPPM decides per cell.  Everything
 * drawn comes from the one result: the preprocessed input (want_input), the rollout and mask
 * (want_rollout), the crop (want_crop), the box in the input and in the photo, and the top-3 of
 * each scale and of the fused prediction. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "canvas.h"
#include "font.h"

static const char explain_usage[] =
    "usage: ramscli explain [--model PATH] [--out OUT.png] [--rollout FILE.npy]\n"
    "                       [--mode scale1|scale2|fused] [--precision f32|bf16|int8] [--kernel NAME] IMAGE\n"
    "\n"
    "Draws where the model looked into one PNG: the preprocessed input with the attention\n"
    "rollout over it as a heatmap (dark: little attention, yellow: most), the cells above the\n"
    "DPPM threshold (bright outline: the largest connected region, which DPPM keeps; dim: the\n"
    "others), the zoom box (green), the zoomed crop the second scale saw, and the top-3 labels\n"
    "with their probabilities for scale 1, scale 2 and the fused prediction.\n"
    "IMAGE is a JPEG, PNG or WebP photo (preprocessed as the model file says) or a .npy float32\n"
    "tensor of shape 3xSxS that is already preprocessed.\n"
    "\n"
    "  -m, --model PATH      the model file (default: the default model)\n"
    "      --precision P     f32 (default; exact), bf16 (bf16 matrix products, f32 sums) or\n"
    "                        int8 (int8 weights and activations, int32 sums)\n"
    "      --kernel NAME     run on this matrix-product kernel of the precision (ramscli info)\n"
    "  -o, --out OUT.png     where to write the picture (default: IMAGE's file name +\n"
    "                        '.explain.png', in the current directory)\n"
    "      --rollout FILE    also write the rollout map p = v / max(v) (G x G float32) as .npy\n"
    "      --mode MODE       which prediction is marked as the answer: scale1, scale2 or fused\n"
    "                        (default: the model file's default mode); both scales always run\n"
    "  -h, --help            this text\n"
    "\n"
    "Prints one line on stdout: the picture's path, the answer and the box.\n";

/* ---- colours and layout ------------------------------------------------------------------ */

static const uint8_t col_background[3] = {22, 22, 28};
static const uint8_t col_text[3] = {235, 235, 235};
static const uint8_t col_dim_text[3] = {150, 150, 160};
static const uint8_t col_answer[3] = {255, 190, 60};
static const uint8_t col_box[3] = {0, 255, 0};     /* the zoom box: pure green, in no heat colour */
static const uint8_t col_kept[3] = {0, 230, 255};  /* outline of the component DPPM keeps       */
static const uint8_t col_other[3] = {0, 120, 140}; /* outline of the other thresholded cells    */
static const uint8_t col_bar[3] = {90, 140, 235};  /* probability bars                          */
static const uint8_t col_bar_frame[3] = {70, 70, 80};

enum {
    MARGIN = 16,
    TEXT_SCALE = 2,
    LINE = (FONT_HEIGHT + 3) * TEXT_SCALE, /* 22 px from one text line to the next */
    MIN_PANEL = 320,                       /* panels are scaled up to at least this */
    HEAT_BAR_HEIGHT = 14,
    BOX_LINE = 2, /* thickness of the box and kept outline */
    PROB_BAR_WIDTH = 120,
    TOP_SHOWN = 3
};

/* Heat: 0.45 of the colour map over 0.55 of the picture keeps the picture recognisable. */
#define HEAT_OPACITY 0.45f

typedef struct {
    int scale;           /* integer upscaling of input pixels                          */
    int panel;           /* panel side: scale * S                                      */
    int left_x, right_x; /* panels' left edges                                         */
    int title_y, caption_y, panel_y, heat_bar_y, legend_y, predictions_y;
} layout;

static layout make_layout(int image_size, int legend_lines, int *width, int *height)
{
    layout l;
    l.scale = (MIN_PANEL + image_size - 1) / image_size;
    if (l.scale < 1) l.scale = 1;
    l.panel = l.scale * image_size;
    l.left_x = MARGIN;
    l.right_x = 2 * MARGIN + l.panel;
    l.title_y = MARGIN;
    l.caption_y = l.title_y + LINE + 8;
    l.panel_y = l.caption_y + LINE;
    l.heat_bar_y = l.panel_y + l.panel + 10;
    l.legend_y = l.heat_bar_y + HEAT_BAR_HEIGHT + 6 + LINE + 6; /* bar, its tick labels */
    l.predictions_y = l.legend_y + legend_lines * LINE + 14;
    *width = 3 * MARGIN + 2 * l.panel;
    *height = l.predictions_y + 3 * (1 + TOP_SHOWN) * LINE + 2 * 8 + MARGIN;
    return l;
}

/* Text at the picture's text size, cut with ".." to at most max_width pixels. */
static void draw_text_fit(canvas *c, int x, int y, int max_width, const uint8_t color[3], const char *text)
{
    canvas_text(c, x, y, max_width, TEXT_SCALE, color, text);
}

/* An approximation of matplotlib's perceptually uniform "inferno" map (black, purple, red,
 * orange, pale yellow) by linear interpolation between nine points. */
static void heat_color(float v, uint8_t out[3])
{
    static const uint8_t stops[9][3] = {{0, 0, 4},      {31, 12, 72},   {85, 15, 109},
                                        {136, 34, 106}, {186, 54, 85},  {227, 89, 51},
                                        {249, 140, 10}, {249, 201, 50}, {252, 255, 164}};
    if (!(v > 0)) v = 0; /* NaN too */
    if (v > 1) v = 1;
    float pos = v * 8;
    int i = (int)pos;
    if (i > 7) i = 7;
    float f = pos - i;
    for (int ch = 0; ch < 3; ch++)
        out[ch] = (uint8_t)lrintf(stops[i][ch] + f * (stops[i + 1][ch] - stops[i][ch]));
}

/* Normalised value back to 8-bit: x * std + mean, times 255 (ToTensor's inverse). */
static uint8_t denormalise(float x, float mean, float std)
{
    float v = (x * std + mean) * 255.0f;
    if (!(v > 0)) return 0;
    if (v >= 255) return 255;
    return (uint8_t)lrintf(v);
}

/* A 3 x S x S tensor de-normalised into a panel, each input pixel a scale x scale square; with
 * heat (G x G) it is blended with the colour map of the cell each pixel lies in. */
static void draw_tensor(canvas *c, int x0, int y0, const float *chw, int size, int scale,
                        const rams_preprocess *pp, const float *heat, int grid)
{
    size_t plane = (size_t)size * size;
    for (int sy = 0; sy < size; sy++) {
        for (int sx = 0; sx < size; sx++) {
            uint8_t px[3];
            for (int ch = 0; ch < 3; ch++)
                px[ch] = denormalise(chw[ch * plane + (size_t)sy * size + sx], pp->mean[ch], pp->std[ch]);
            if (heat) {
                uint8_t h[3];
                heat_color(heat[(size_t)(sy * grid / size) * grid + sx * grid / size], h);
                for (int ch = 0; ch < 3; ch++)
                    px[ch] = (uint8_t)lrintf((1 - HEAT_OPACITY) * px[ch] + HEAT_OPACITY * h[ch]);
            }
            canvas_fill(c, x0 + sx * scale, y0 + sy * scale, scale, scale, px);
        }
    }
}

/* The sides of each cell whose membership differs from its neighbour's: the outline of a region
 * of cells.  `member` says whether mask value m belongs; `stop` whether a neighbour ends it. */
static void outline_cells(canvas *c, int x0, int y0, const unsigned char *mask, int grid, int size, int scale,
                          unsigned char member, int thick, const uint8_t color[3])
{
    for (int i = 0; i < grid; i++) {
        for (int j = 0; j < grid; j++) {
            if (mask[i * grid + j] != member) continue;
            /* Cell bounds in canvas pixels (exact even when S is not a multiple of G). */
            int top = y0 + i * size / grid * scale, bottom = y0 + (i + 1) * size / grid * scale;
            int left = x0 + j * size / grid * scale, right = x0 + (j + 1) * size / grid * scale;
            /* The kept component is outlined against everything else; other thresholded cells
             * only against cells below the threshold (the kept outline covers the rest). */
#define OUTSIDE(r, q)                                    \
    ((r) < 0 || (q) < 0 || (r) >= grid || (q) >= grid || \
     (member == 2 ? mask[(r)*grid + (q)] != 2 : mask[(r)*grid + (q)] == 0))
            if (OUTSIDE(i - 1, j)) canvas_fill(c, left, top, right - left, thick, color);
            if (OUTSIDE(i + 1, j)) canvas_fill(c, left, bottom - thick, right - left, thick, color);
            if (OUTSIDE(i, j - 1)) canvas_fill(c, left, top, thick, bottom - top, color);
            if (OUTSIDE(i, j + 1)) canvas_fill(c, right - thick, top, thick, bottom - top, color);
#undef OUTSIDE
        }
    }
}

/* ---- predictions ----------------------------------------------------------------------------- */

/* The three lists of the result (the top_k == TOP_SHOWN best of each), the answer's marked. */
static void draw_predictions(canvas *c, const layout *l, const rams_result *r, rams_mode answer)
{
    static const char *const titles[3] = {"scale 1: the full input", "scale 2: the zoomed crop",
                                          "fused: mean of both scales"};
    static const rams_mode modes[3] = {RAMS_MODE_SCALE1, RAMS_MODE_SCALE2, RAMS_MODE_FUSED};
    const rams_prediction *lists[3] = {r->top_scale1, r->top_scale2, r->top_fused};
    int y = l->predictions_y, x = MARGIN, right_edge = c->width - MARGIN;
    for (int s = 0; s < 3; s++) {
        int is_answer = modes[s] == answer;
        char line[256];
        snprintf(line, sizeof line, "%s%s", titles[s], is_answer ? "  <- answer" : "");
        draw_text_fit(c, x, y, right_edge - x, is_answer ? col_answer : col_text, line);
        y += LINE;
        for (int k = 0; k < r->top_k && k < TOP_SHOWN; k++) {
            const rams_prediction *t = &lists[s][k];
            snprintf(line, sizeof line, "%d.", k + 1);
            draw_text_fit(c, x + 12, y, 36, col_dim_text, line);
            int bar_x = x + 48, bar_h = FONT_HEIGHT * TEXT_SCALE - 2;
            canvas_frame(c, bar_x, y, PROB_BAR_WIDTH + 2, bar_h, 1, col_bar_frame);
            canvas_fill(c, bar_x + 1, y + 1, (int)lrint(t->prob * PROB_BAR_WIDTH), bar_h - 2, col_bar);
            snprintf(line, sizeof line, "%6.2f%%", 100.0 * t->prob);
            int text_x = bar_x + PROB_BAR_WIDTH + 14;
            draw_text_fit(c, text_x, y, 7 * FONT_ADVANCE * TEXT_SCALE, col_text, line);
            const char *label = t->label;
            char fallback[32];
            if (!label) snprintf(fallback, sizeof fallback, "class %d", t->index), label = fallback;
            int label_x = text_x + 8 * FONT_ADVANCE * TEXT_SCALE + 6;
            draw_text_fit(c, label_x, y, right_edge - label_x, k == 0 ? col_text : col_dim_text, label);
            y += LINE;
        }
        y += 8;
    }
}

/* ---- the whole picture -------------------------------------------------------------------------- */

/* `name` is shown in the title; r->has_image_box says the input was a photo. */
static int draw_picture(canvas *c, const char *name, const rams_model_info *info, const rams_result *r,
                        rams_mode answer)
{
    int size = info->image_size, grid = r->grid;
    layout l = make_layout(size, r->has_image_box ? 5 : 4, &c->width, &c->height);
    c->rgb = malloc((size_t)c->width * c->height * 3);
    if (!c->rgb) return -1;
    for (size_t i = 0; i < (size_t)c->width * c->height; i++) memcpy(c->rgb + i * 3, col_background, 3);
    const rams_preprocess *pp = &info->preprocess;
    char line[512];

    /* A long path loses its beginning, not the file name. */
    int room = (c->width - 2 * MARGIN) / (FONT_ADVANCE * TEXT_SCALE) - (int)strlen("ramscli explain: ..");
    if (room < 8) room = 8;
    if ((int)strlen(name) > room + 2)
        snprintf(line, sizeof line, "ramscli explain: ..%s", name + strlen(name) - room);
    else snprintf(line, sizeof line, "ramscli explain: %s", name);
    draw_text_fit(c, MARGIN, l.title_y, c->width - 2 * MARGIN, col_text, line);
    draw_text_fit(c, l.left_x, l.caption_y, l.panel, col_dim_text, "input + attention rollout");
    snprintf(line, sizeof line, "green box zoomed to %dx%d", size, size);
    draw_text_fit(c, l.right_x, l.caption_y, l.panel, col_dim_text, line);

    /* Left panel: input, heat, outlines, box (in that order: later ones stay visible). */
    draw_tensor(c, l.left_x, l.panel_y, r->input, size, l.scale, pp, r->rollout, grid);
    int kept_cells = 0, other_cells = 0;
    for (int i = 0; i < grid * grid; i++) kept_cells += r->mask[i] == 2, other_cells += r->mask[i] == 1;
    outline_cells(c, l.left_x, l.panel_y, r->mask, grid, size, l.scale, 1, 1, col_other);
    outline_cells(c, l.left_x, l.panel_y, r->mask, grid, size, l.scale, 2, BOX_LINE, col_kept);
    /* The box covers input pixels top..bottom, left..right inclusive; its frame lies on the
     * outermost canvas pixels of that range. */
    const rams_box *b = &r->box;
    canvas_frame(c, l.left_x + b->left * l.scale, l.panel_y + b->top * l.scale,
                 (b->right - b->left + 1) * l.scale, (b->bottom - b->top + 1) * l.scale, BOX_LINE, col_box);

    /* Right panel: what scale 2 saw, framed (outside its pixels) in the box's colour. */
    canvas_frame(c, l.right_x - 3, l.panel_y - 3, l.panel + 6, l.panel + 6, BOX_LINE, col_box);
    draw_tensor(c, l.right_x, l.panel_y, r->crop, size, l.scale, pp, NULL, 0);

    /* Colour bar of the heat, with the threshold marked. */
    for (int x = 0; x < l.panel; x++) {
        uint8_t h[3];
        heat_color((float)x / (l.panel - 1), h);
        canvas_fill(c, l.left_x + x, l.heat_bar_y, 1, HEAT_BAR_HEIGHT, h);
    }
    float t = r->threshold > 1 ? 1 : r->threshold < 0 ? 0 : r->threshold;
    int tick_x = l.left_x + (int)lrintf(t * (l.panel - 1));
    canvas_fill(c, tick_x - 1, l.heat_bar_y - 4, 2, HEAT_BAR_HEIGHT + 8, col_kept);
    int labels_y = l.heat_bar_y + HEAT_BAR_HEIGHT + 6;
    draw_text_fit(c, l.left_x, labels_y, 40, col_dim_text, "0");
    draw_text_fit(c, l.left_x + l.panel - font_text_width("1", TEXT_SCALE), labels_y, 40, col_dim_text, "1");
    snprintf(line, sizeof line, "t=%.3f", r->threshold);
    int tw = font_text_width(line, TEXT_SCALE), tx = tick_x - tw / 2;
    int lo = l.left_x + 2 * FONT_ADVANCE * TEXT_SCALE,
        hi = l.left_x + l.panel - 2 * FONT_ADVANCE * TEXT_SCALE - tw;
    tx = tx < lo ? lo : tx > hi ? hi : tx;
    draw_text_fit(c, tx, labels_y, tw, col_kept, line);

    /* Legend: a swatch per mark, then what it is. */
    int y = l.legend_y, text_x = MARGIN + 40, text_w = c->width - MARGIN - text_x;
    for (int x = 0; x < 28; x++) {
        uint8_t h[3];
        heat_color(x / 27.0f, h);
        canvas_fill(c, MARGIN + x, y + 3, 1, 10, h);
    }
    snprintf(line, sizeof line, "attention p per %dx%d-px cell, t = %g x mean(p)", size / grid, size / grid,
             info->alpha);
    draw_text_fit(c, text_x, y, text_w, col_text, line);
    y += LINE;
    canvas_fill(c, MARGIN, y + 3, 28, 10, col_box);
    if (r->box_is_fallback) snprintf(line, sizeof line, "zoom box: the whole input (no cell above t)");
    else
        snprintf(line, sizeof line, "zoom box: rows %d-%d, cols %d-%d of the input", b->top, b->bottom,
                 b->left, b->right);
    draw_text_fit(c, text_x, y, text_w, col_text, line);
    y += LINE;
    if (r->has_image_box) {
        snprintf(line, sizeof line, "in the %dx%d photo: rows %d-%d, cols %d-%d", r->image_width,
                 r->image_height, r->image_box.top, r->image_box.bottom, r->image_box.left,
                 r->image_box.right);
        draw_text_fit(c, text_x, y, text_w, col_dim_text, line);
        y += LINE;
    }
    canvas_frame(c, MARGIN, y + 1, 28, 14, BOX_LINE, col_kept);
    snprintf(line, sizeof line, "largest region above t, kept: %d cell%s", kept_cells,
             kept_cells == 1 ? "" : "s");
    draw_text_fit(c, text_x, y, text_w, col_text, line);
    y += LINE;
    canvas_frame(c, MARGIN, y + 1, 28, 14, 1, col_other);
    snprintf(line, sizeof line, "other cells above t: %d (of %dx%d)", other_cells, grid, grid);
    draw_text_fit(c, text_x, y, text_w, col_text, line);

    draw_predictions(c, &l, r, answer);
    return 0;
}

/* ---- input ----------------------------------------------------------------------------------------- */

/* IMAGE's last path component + ".explain.png" (malloc'd). */
static char *default_out_path(const char *image)
{
    const char *base = strrchr(image, '/');
    base = base ? base + 1 : image;
    if (!*base) base = "image";
    size_t n = strlen(base) + sizeof ".explain.png";
    char *out = malloc(n);
    if (out) snprintf(out, n, "%s.explain.png", base);
    return out;
}

/* ---- the command ----------------------------------------------------------------------------------- */

int cli_cmd_explain(int argc, char **argv)
{
    const char *model_path = NULL, *out_path = NULL, *rollout_path = NULL;
    rams_mode answer = RAMS_MODE_DEFAULT;
    cli_load_options load = {RAMS_PRECISION_F32, NULL, 0};
    int first;
    const cli_option options[] = {
        CLI_STRING("model", 'm', &model_path),
        CLI_PRECISION("precision", 0, &load.precision),
        CLI_STRING("kernel", 0, &load.kernel),
        CLI_FILE("out", 'o', &out_path),
        CLI_FILE("rollout", 0, &rollout_path),
        CLI_MODE("mode", 0, &answer),
        CLI_END,
    };
    const cli_command_line cl = {"explain",
                                 explain_usage,
                                 options,
                                 1,
                                 1,
                                 "no IMAGE given",
                                 "one IMAGE at a time ('%s' is one too many)"};
    int parsed = cli_parse_command_line(&cl, argc, argv, &first);
    if (parsed != CLI_PARSED) return parsed;
    const char *image_path = argv[first];

    int rc = CLI_EXIT_FAILED;
    char *default_out = NULL;
    rams_context *ctx = NULL;
    canvas pic = {0};
    rams_model *m = cli_load_model(model_path, &load);
    if (!m) return CLI_EXIT_FAILED;
    const char *shown_model = model_path ? model_path : rams_default_model_path();
    rams_model_info info;
    if (rams_model_get_info(m, &info) != RAMS_OK) {
        cli_report(shown_model, rams_last_error());
        goto done;
    }
    if (answer == RAMS_MODE_DEFAULT) answer = info.default_mode;
    if (!out_path) {
        out_path = default_out = default_out_path(image_path);
        if (!default_out) {
            cli_report("explain", "out of memory");
            goto done;
        }
    }

    if (rams_context_create(m, NULL, &ctx) != RAMS_OK) {
        cli_report("explain", rams_last_error());
        goto done;
    }
    /* Fused runs both scales and DPPM: everything the picture shows. */
    rams_run_params rp = rams_run_default_params();
    rp.mode = RAMS_MODE_FUSED;
    rp.top_k = TOP_SHOWN;
    rp.want_rollout = 1;
    rp.want_crop = 1;
    rp.want_input = 1;
    rams_result r;
    if (rams_classify_file(ctx, image_path, &rp, &r) != RAMS_OK) {
        cli_report(image_path, rams_last_error());
        goto done;
    }
    if (!r.has_box || !r.rollout || !r.mask || !r.crop || !r.input || !r.top_scale1 || !r.top_scale2 ||
        !r.top_fused || r.top_k < 1 || r.grid <= 0) {
        cli_report(image_path, "the library gave no rollout, box, crop, input or predictions");
        goto done;
    }

    if (draw_picture(&pic, image_path, &info, &r, answer)) {
        cli_report("explain", "out of memory");
        goto done;
    }
    char why[320];
    if (canvas_write_png(&pic, out_path, "ramscli explain (libramstrans " RAMSTRANS_VERSION_STRING ")", why,
                         sizeof why)) {
        cli_report(out_path, why);
        goto done;
    }
    if (rollout_path) {
        int shape[2] = {r.grid, r.grid};
        if (rams_save_npy(rollout_path, r.rollout, 2, shape) != RAMS_OK) {
            cli_report(rollout_path, rams_last_error());
            goto done;
        }
    }

    /* The answer: the chosen mode's best class, as classify --mode gives it. */
    const rams_prediction *best = answer == RAMS_MODE_SCALE1   ? &r.top_scale1[0]
                                  : answer == RAMS_MODE_SCALE2 ? &r.top_scale2[0]
                                                               : &r.top_fused[0];
    printf("%s  [%s] %s %.2f%%  box t=%d l=%d b=%d r=%d\n", out_path, rams_mode_name(answer),
           best->label ? best->label : "?", 100.0 * best->prob, r.box.top, r.box.left, r.box.bottom,
           r.box.right);
    rc = CLI_EXIT_OK;

done:
    free(pic.rgb);
    rams_context_free(ctx);
    free(default_out);
    rams_model_free(m);
    return rc;
}
