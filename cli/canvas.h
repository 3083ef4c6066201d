/* An 8-bit RGB picture to draw into (rectangles, outlines, text in the built-in font) and write
 * as a PNG: what ramscli explain draws with. */
#ifndef RAMSCLI_CANVAS_H
#define RAMSCLI_CANVAS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int width, height;
    uint8_t *rgb; /* rows of width*3 bytes */
} canvas;

/* Everything outside the picture is clipped. */
void canvas_fill(canvas *c, int x, int y, int w, int h, const uint8_t color[3]);
/* An outline `thick` pixels wide, inside the rectangle [x, x+w) x [y, y+h). */
void canvas_frame(canvas *c, int x, int y, int w, int h, int thick, const uint8_t color[3]);
/* Text at integer `scale` with its top-left corner at (x, y), cut with ".." to at most max_width
 * pixels. */
void canvas_text(canvas *c, int x, int y, int max_width, int scale, const uint8_t color[3], const char *text);

/* Writes the picture as a PNG with a "Software" text chunk; on failure returns -1 with the
 * reason in `why` (a regular file left half-written is removed, a device never). */
int canvas_write_png(const canvas *c, const char *path, const char *software, char *why, size_t why_size);

#endif
