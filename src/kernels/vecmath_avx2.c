/* The AVX2 + FMA build of vecmath.c (CMakeLists.txt compiles this file with -mavx2 -mfma). */
#define RAMS_VECMATH_AVX2 1
#include "vecmath.c"
