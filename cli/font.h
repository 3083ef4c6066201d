/* A small built-in bitmap font (5 x 8 cells, ASCII 32..126) for the pictures ramscli draws. */
#ifndef RAMSCLI_FONT_H
#define RAMSCLI_FONT_H

#include <stdint.h>

enum {
    FONT_WIDTH = 5,  /* glyph columns                                           */
    FONT_HEIGHT = 8, /* glyph rows: 7 above the baseline, 1 for descenders      */
    FONT_ADVANCE = 6 /* columns from one character to the next (1 px spacing)   */
};

/* Width in pixels of `text` drawn at integer `scale`. */
int font_text_width(const char *text, int scale);

/* Draws `text` with its top-left corner at (x, y) into an 8-bit RGB picture of width x height
 * (rows of width*3 bytes), each glyph pixel a scale x scale square; clipped to the picture.
 * Characters outside ASCII 32..126 are drawn as '?'. */
void font_draw_text(uint8_t *rgb, int width, int height, int x, int y, int scale, const uint8_t color[3],
                    const char *text);

#endif
