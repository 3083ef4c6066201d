/* libFuzzer target: the .npy reader on arbitrary bytes.  A tensor it accepts must have exactly
 * the element count its shape announces, all of it readable. */
#include <stdint.h>
#include <stdlib.h>

#include "npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rams_npy t;
    /* The limit classify_npy uses for a 448 x 448 model, so huge shapes are refused early. */
    if (rams_npy_decode(data, size, "fuzz.npy", 3 * 448 * 448, &t) != RAMS_OK) return 0;
    size_t count = 1;
    for (int i = 0; i < t.ndim; i++) count *= (size_t)t.shape[i];
    volatile float sink = 0;
    for (size_t i = 0; i < count; i++) sink += t.data[i]; /* ASan checks every element is there */
    (void)sink;
    rams_npy_free(&t);
    return 0;
}
