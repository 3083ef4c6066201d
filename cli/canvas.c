/* ramscli's pictures: an RGB canvas, rectangles and text (font.c), PNG output with libpng. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "canvas.h"
#include "font.h"

static void put_pixel(canvas *c, int x, int y, const uint8_t color[3])
{
    if (x < 0 || y < 0 || x >= c->width || y >= c->height) return;
    memcpy(c->rgb + ((size_t)y * c->width + x) * 3, color, 3);
}

void canvas_fill(canvas *c, int x, int y, int w, int h, const uint8_t color[3])
{
    for (int j = y; j < y + h; j++)
        for (int i = x; i < x + w; i++) put_pixel(c, i, j, color);
}

void canvas_frame(canvas *c, int x, int y, int w, int h, int thick, const uint8_t color[3])
{
    canvas_fill(c, x, y, w, thick, color);
    canvas_fill(c, x, y + h - thick, w, thick, color);
    canvas_fill(c, x, y, thick, h, color);
    canvas_fill(c, x + w - thick, y, thick, h, color);
}

void canvas_text(canvas *c, int x, int y, int max_width, int scale, const uint8_t color[3], const char *text)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    size_t n = strlen(buf);
    if (font_text_width(buf, scale) > max_width) {
        while (n > 2 && font_text_width(buf, scale) > max_width) {
            n--;
            buf[n - 2] = '.', buf[n - 1] = '.', buf[n] = '\0';
        }
    }
    font_draw_text(c->rgb, c->width, c->height, x, y, scale, color, buf);
}

/* ---- PNG output (libpng) ------------------------------------------------------------------------ */

typedef struct {
    char message[256];
} png_failure;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_failure *f = png_get_error_ptr(png);
    snprintf(f->message, sizeof f->message, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* Removes a half-written picture, but only a regular file: the output may be a device
 * (/dev/stdout, /dev/full) that must never be unlinked. */
static void remove_partial(const char *path, int is_regular)
{
    if (is_regular) remove(path);
}

int canvas_write_png(const canvas *c, const char *path, const char *software, char *why, size_t why_size)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(why, why_size, "cannot create: %s", strerror(errno));
        return -1;
    }
    struct stat st;
    const int is_regular = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode);
    png_failure failure = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &failure, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        remove_partial(path, is_regular);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        remove_partial(path, is_regular);
        snprintf(why, why_size, "cannot write PNG: %s", failure.message);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)c->width, (png_uint_32)c->height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_text text = {.compression = PNG_TEXT_COMPRESSION_NONE, .key = "Software", .text = (char *)software};
    png_set_text(png, info, &text, 1);
    png_write_info(png, info);
    for (int y = 0; y < c->height; y++) png_write_row(png, c->rgb + (size_t)y * c->width * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0) {
        snprintf(why, why_size, "cannot write: %s", strerror(errno));
        remove_partial(path, is_regular);
        return -1;
    }
    return 0;
}
