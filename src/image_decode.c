/* JPEG (libjpeg-turbo), PNG (libpng) and WebP (libwebp) decoding to 8-bit RGB, bit-identical to
 * what Debian's python3-pil 9.4 gives for Image.open(f).convert('RGB').
 *
 * What PIL does, and what we therefore do:
 *  - JPEG: libjpeg with its defaults (ISLOW DCT, fancy upsampling).  One component is read as
 *    grayscale and replicated; three as RGB (libjpeg converts YCbCr); four as CMYK (libjpeg converts
 *    YCCK to CMYK) and PIL then *always* assumes Adobe's inverted polarity ("CMYK;I"), whether or
 *    not an Adobe marker is present, and converts CMYK to RGB with
 *    r = (255-k) - (c*(255-k))/255 rounded in 8-bit fixed point (Convert.c cmyk2rgb).
 *  - PNG: gray of 1/2/4 bits scaled to 8 (bit replication), 8-bit gray replicated, 16-bit gray is
 *    PIL mode "I" and convert('RGB') clips it to 255 (so values above 255 become white);
 *    every other 16-bit type keeps its high byte.  Palette entries that PLTE does not define read as
 *    the gray ramp (i, i, i) as in PIL's palette.  Alpha and tRNS are dropped, never composited.
 *  - WebP: PIL 9.4 reads every WebP, still or animated, through libwebp's WebPAnimDecoder: the first
 *    frame decoded into a canvas cleared to transparent black, non-premultiplied RGBA; convert('RGB')
 *    drops the alpha (it never composites), so what a frame leaves uncovered is black.
 *  - EXIF orientation is not applied (convert() does not).
 * Corruption: libjpeg's warnings are errors but for the few that jpeg_warning_is_harmless() lets
 * through; any libpng or libwebp error is one (libpng's warnings, e.g. about an sRGB profile, are
 * ignored: they do not touch the pixels). */
#include "image.h"

#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <webp/decode.h>
#include <webp/demux.h>

#include "error.h"
#include "sniff.h"

void rams_image_free(rams_image *img)
{
    if (!img) return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

/* Refuses images above the pixel limit and sizes whose RGB buffer would overflow. */
static rams_status check_dimensions(const char *name, uint64_t width, uint64_t height, size_t max_pixels)
{
    if (width == 0 || height == 0)
        return rams_fail(RAMS_ERR_FORMAT, "%s: image has zero width or height", name);
    if (width > INT_MAX || height > INT_MAX || width * height > max_pixels || width * height > SIZE_MAX / 8)
        return rams_fail(RAMS_ERR_LIMIT, "%s: image of %llux%llu pixels is above the limit of %zu pixels",
                         name, (unsigned long long)width, (unsigned long long)height, max_pixels);
    return RAMS_OK;
}

/* PIL's MULDIV255: a*b/255 rounded, in integers. */
static inline int muldiv255(int a, int b)
{
    int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
}

/* ---- JPEG ----------------------------------------------------------------------------------- */

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int in_header; /* 1 while jpeg_read_header() reads the markers before the first scan */
    char message[JMSG_LENGTH_MAX];
} jpeg_trap;

static void jpeg_on_error(j_common_ptr cinfo)
{
    jpeg_trap *trap = (jpeg_trap *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, trap->message);
    longjmp(trap->jump, 1);
}

/* The one rule for libjpeg's warnings.  libjpeg reports damaged data as warnings ("Corrupt JPEG
 * data: ...", "Premature end of JPEG file") and goes on with whatever it makes of the rest; PIL
 * ignores every warning and returns that, often visible garbage or a grey bottom.  We stop at a
 * warning, except:
 *  - metadata that does not touch the pixels: a JFIF version above 1.x, a broken ICC profile
 *    chunk, an unknown Adobe colour transform code;
 *  - "N extraneous bytes before marker 0xXX" (JWRN_EXTRANEOUS_DATA) while the header is read,
 *    before any scan data: editors (Photoshop) and some cameras leave stray bytes between header
 *    segments, or write a segment length that is off.  libjpeg skips to the next marker, as PIL's
 *    own header parser does, and everything after is read as usual: the pixels are PIL's.  Once a
 *    scan has begun, the same warning means the entropy-coded data holds bytes that are not
 *    image data (damaged, or junk between scans or before EOI), and it is refused like every
 *    other warning there. */
static int jpeg_warning_is_harmless(int code, int in_header)
{
    if (code == JWRN_JFIF_MAJOR || code == JWRN_BOGUS_ICC || code == JWRN_ADOBE_XFORM) return 1;
    return code == JWRN_EXTRANEOUS_DATA && in_header;
}

static void jpeg_on_message(j_common_ptr cinfo, int msg_level)
{
    if (msg_level >= 0) return; /* trace messages */
    jpeg_trap *trap = (jpeg_trap *)cinfo->err;
    if (jpeg_warning_is_harmless(cinfo->err->msg_code, trap->in_header)) return;
    jpeg_on_error(cinfo);
}

static void jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

/* A progressive JPEG may hold any number of scans and libjpeg decodes them all: a small file with
 * thousands of scans costs minutes.  Real encoders write about ten; beyond this many we stop. */
#define RAMS_JPEG_MAX_SCANS 1000

static void jpeg_on_progress(j_common_ptr cinfo)
{
    j_decompress_ptr dinfo = (j_decompress_ptr)cinfo;
    if (dinfo->input_scan_number > RAMS_JPEG_MAX_SCANS) {
        jpeg_trap *trap = (jpeg_trap *)cinfo->err;
        snprintf(trap->message, sizeof trap->message, "more than %d scans", RAMS_JPEG_MAX_SCANS);
        longjmp(trap->jump, 1);
    }
}

static rams_status decode_jpeg(const uint8_t *data, size_t size, const char *name, size_t max_pixels,
                               rams_image *out)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_progress_mgr progress;
    jpeg_trap trap;
    uint8_t *volatile rgb = NULL;
    uint8_t *volatile row = NULL;
    volatile rams_status status = RAMS_OK;

    memset(&cinfo, 0, sizeof cinfo);
    cinfo.err = jpeg_std_error(&trap.pub);
    trap.pub.error_exit = jpeg_on_error;
    trap.pub.emit_message = jpeg_on_message;
    trap.pub.output_message = jpeg_silent;
    trap.message[0] = '\0';
    trap.in_header = 0;
    if (setjmp(trap.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(rgb);
        free(row);
        if (status != RAMS_OK) return status; /* a failure we recorded ourselves */
        return rams_fail(RAMS_ERR_FORMAT, "%s: bad JPEG: %s", name, trap.message);
    }
    jpeg_create_decompress(&cinfo);
    memset(&progress, 0, sizeof progress);
    progress.progress_monitor = jpeg_on_progress;
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    trap.in_header = 1;
    jpeg_read_header(&cinfo, TRUE); /* every marker up to the first scan's SOS */
    trap.in_header = 0;

    /* The limit is checked here, before libjpeg or we allocate anything image-sized. */
    rams_status st = check_dimensions(name, cinfo.image_width, cinfo.image_height, max_pixels);
    if (st != RAMS_OK) {
        status = st;
        longjmp(trap.jump, 1);
    }
    switch (cinfo.num_components) {
    case 1: cinfo.out_color_space = JCS_GRAYSCALE; break;
    case 3: cinfo.out_color_space = JCS_RGB; break;
    case 4: cinfo.out_color_space = JCS_CMYK; break; /* libjpeg turns YCCK into CMYK */
    default:
        status = rams_fail(RAMS_ERR_UNSUPPORTED, "%s: JPEG with %d components is not supported", name,
                           cinfo.num_components);
        longjmp(trap.jump, 1);
    }
    jpeg_start_decompress(&cinfo);

    size_t width = cinfo.output_width, height = cinfo.output_height;
    int channels = cinfo.output_components;
    rgb = malloc(width * height * 3);
    row = malloc(width * (size_t)channels);
    if (!rgb || !row) {
        status = rams_fail(RAMS_ERR_NO_MEMORY, "%s: cannot allocate %zux%zu RGB pixels", name, width, height);
        longjmp(trap.jump, 1);
    }
    while (cinfo.output_scanline < height) {
        size_t y = cinfo.output_scanline;
        uint8_t *dst = rgb + y * width * 3;
        JSAMPROW target = channels == 3 ? dst : row;
        if (jpeg_read_scanlines(&cinfo, &target, 1) != 1) {
            status = rams_fail(RAMS_ERR_FORMAT, "%s: JPEG data ends early", name);
            longjmp(trap.jump, 1);
        }
        if (channels == 1) {
            for (size_t x = 0; x < width; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
        } else if (channels == 4) {
            /* PIL reads the samples inverted (C' = 255 - c, K' = 255 - k), then
             * R = (255 - K') - C' * (255 - K') / 255, i.e. with nk = 255 - K' = k: */
            for (size_t x = 0; x < width; x++) {
                const uint8_t *p = row + 4 * x;
                int nk = p[3];
                for (int c = 0; c < 3; c++) dst[3 * x + c] = (uint8_t)(nk - muldiv255(255 - p[c], nk));
            }
        }
    }
    jpeg_finish_decompress(&cinfo); /* reads up to EOI: a file cut after the last row still fails */
    jpeg_destroy_decompress(&cinfo);
    free(row);
    out->width = (int)width;
    out->height = (int)height;
    out->rgb = rgb;
    return RAMS_OK;
}

/* ---- PNG ------------------------------------------------------------------------------------ */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    const char *name;
    char message[256];
} png_source;

static void png_on_error(png_structp png, png_const_charp msg)
{
    png_source *src = png_get_error_ptr(png);
    snprintf(src->message, sizeof src->message, "%s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_memory(png_structp png, png_bytep dst, png_size_t length)
{
    png_source *src = png_get_io_ptr(png);
    if (length > src->size - src->pos) png_error(png, "file is truncated");
    memcpy(dst, src->data + src->pos, length);
    src->pos += length;
}

/* One row of libpng samples (1 byte each for depth <= 8 after unpacking, 2 big-endian bytes for 16)
 * to RGB as PIL's convert('RGB') gives it. */
static void png_row_to_rgb(const uint8_t *in, uint8_t *dst, size_t width, int color_type, int bit_depth,
                           const uint8_t palette[256][3])
{
    int wide = bit_depth == 16;
    for (size_t x = 0; x < width; x++, dst += 3) {
        switch (color_type) {
        case PNG_COLOR_TYPE_GRAY:
            if (wide) { /* mode "I", clipped to 8 bits */
                unsigned v = (unsigned)in[2 * x] << 8 | in[2 * x + 1];
                dst[0] = dst[1] = dst[2] = (uint8_t)(v > 255 ? 255 : v);
            } else {
                dst[0] = dst[1] = dst[2] = in[x];
            }
            break;
        case PNG_COLOR_TYPE_GRAY_ALPHA:
            dst[0] = dst[1] = dst[2] = in[(wide ? 4 : 2) * x]; /* high byte for 16 bits */
            break;
        case PNG_COLOR_TYPE_PALETTE: memcpy(dst, palette[in[x]], 3); break;
        case PNG_COLOR_TYPE_RGB:
        case PNG_COLOR_TYPE_RGB_ALPHA: {
            size_t step = (color_type == PNG_COLOR_TYPE_RGB ? 3 : 4) * (wide ? 2 : 1);
            const uint8_t *p = in + step * x;
            for (int c = 0; c < 3; c++) dst[c] = p[c * (wide ? 2 : 1)];
            break;
        }
        }
    }
}

static rams_status decode_png(const uint8_t *data, size_t size, const char *name, size_t max_pixels,
                              rams_image *out)
{
    png_source src = {data, size, 0, name, ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: cannot create a PNG reader", name);
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile rgb = NULL;
    uint8_t *volatile pixels = NULL;
    volatile rams_status status = RAMS_OK;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return rams_fail(RAMS_ERR_NO_MEMORY, "%s: cannot create a PNG reader", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rgb);
        free(pixels);
        if (status != RAMS_OK) return status;
        return rams_fail(RAMS_ERR_FORMAT, "%s: bad PNG: %s", name, src.message);
    }
    png_set_read_fn(png, &src, png_read_memory);
    png_read_info(png, info);

    png_uint_32 width, height;
    int bit_depth, color_type, interlace;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    rams_status st = check_dimensions(name, width, height, max_pixels);
    if (st != RAMS_OK) {
        status = st;
        png_longjmp(png, 1);
    }

    /* PIL's palette: a gray ramp, overwritten by the PLTE entries present. */
    uint8_t palette[256][3];
    for (int i = 0; i < 256; i++) palette[i][0] = palette[i][1] = palette[i][2] = (uint8_t)i;
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp plte = NULL;
        int count = 0;
        if (!png_get_PLTE(png, info, &plte, &count)) png_error(png, "palette image without PLTE");
        for (int i = 0; i < count && i < 256; i++) {
            palette[i][0] = plte[i].red;
            palette[i][1] = plte[i].green;
            palette[i][2] = plte[i].blue;
        }
    }
    /* Samples of 1, 2 and 4 bits: one per byte; gray ones scaled to 0..255 as PIL's "L;2"/"L;4"/"1". */
    if (bit_depth < 8) {
        png_set_packing(png);
        if (color_type == PNG_COLOR_TYPE_GRAY) png_set_expand_gray_1_2_4_to_8(png);
    }
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes == 0 || rowbytes > (size_t)width * 8) png_error(png, "unexpected row size");

    rgb = malloc((size_t)width * height * 3);
    /* An interlaced image needs all rows at once (each pass refines them); otherwise one row. */
    pixels = malloc(passes > 1 ? rowbytes * height : rowbytes);
    if (!rgb || !pixels) {
        status = rams_fail(RAMS_ERR_NO_MEMORY, "%s: cannot allocate %ux%u pixels", name, (unsigned)width,
                           (unsigned)height);
        png_longjmp(png, 1);
    }
    if (passes > 1) {
        for (int pass = 0; pass < passes; pass++)
            for (png_uint_32 y = 0; y < height; y++) png_read_row(png, pixels + y * rowbytes, NULL);
        for (png_uint_32 y = 0; y < height; y++)
            png_row_to_rgb(pixels + y * rowbytes, rgb + (size_t)y * width * 3, width, color_type, bit_depth,
                           (const uint8_t(*)[3])palette);
    } else {
        for (png_uint_32 y = 0; y < height; y++) {
            png_read_row(png, pixels, NULL);
            png_row_to_rgb(pixels, rgb + (size_t)y * width * 3, width, color_type, bit_depth,
                           (const uint8_t(*)[3])palette);
        }
    }
    png_read_end(png, NULL); /* the rest of the file, up to IEND, must be there and sound */
    png_destroy_read_struct(&png, &info, NULL);
    free(pixels);
    out->width = (int)width;
    out->height = (int)height;
    out->rgb = rgb;
    return RAMS_OK;
}

/* ---- WebP ----------------------------------------------------------------------------------- */

/* The first frame as PIL 9.4 gets it from WebPAnimDecoder (libwebp's anim_decode.c): the demuxer
 * checks the whole RIFF container, the first frame is always a key frame, so the canvas is
 * cleared to zero and the frame's bitstream is decoded into its rectangle, no blending, alpha kept
 * apart.  We do the same straight into an RGB canvas (MODE_RGB gives the RGB of MODE_RGBA, alpha
 * left out), which saves the decoder's two RGBA canvases.  A still image is one frame covering the
 * canvas. */
static rams_status decode_webp(const uint8_t *data, size_t size, const char *name, size_t max_pixels,
                               rams_image *out)
{
    WebPData whole = {data, size};
    WebPDemuxer *demux = WebPDemux(&whole); /* the container only: no pixel-sized memory */
    if (!demux) return rams_fail(RAMS_ERR_FORMAT, "%s: bad WebP: broken or truncated container", name);
    uint32_t width = WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH);
    uint32_t height = WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT);
    /* The limit is checked here, before libwebp or we allocate anything image-sized. */
    rams_status st = check_dimensions(name, width, height, max_pixels);
    if (st != RAMS_OK) {
        WebPDemuxDelete(demux);
        return st;
    }
    WebPIterator frame;
    if (!WebPDemuxGetFrame(demux, 1, &frame)) {
        WebPDemuxDelete(demux);
        return rams_fail(RAMS_ERR_FORMAT, "%s: bad WebP: no frame", name);
    }
    /* The demuxer keeps every frame inside the canvas; checked again since we write into it. */
    if (frame.x_offset < 0 || frame.y_offset < 0 || frame.width <= 0 || frame.height <= 0 ||
        (uint32_t)frame.x_offset + (uint32_t)frame.width > width ||
        (uint32_t)frame.y_offset + (uint32_t)frame.height > height) {
        WebPDemuxReleaseIterator(&frame);
        WebPDemuxDelete(demux);
        return rams_fail(RAMS_ERR_FORMAT, "%s: bad WebP: first frame outside the canvas", name);
    }
    size_t stride = (size_t)width * 3, bytes = stride * height;
    uint8_t *rgb = calloc(1, bytes); /* what the frame leaves uncovered stays black */
    if (!rgb) {
        WebPDemuxReleaseIterator(&frame);
        WebPDemuxDelete(demux);
        return rams_fail(RAMS_ERR_NO_MEMORY, "%s: cannot allocate %ux%u RGB pixels", name, (unsigned)width,
                         (unsigned)height);
    }
    WebPDecoderConfig config;
    VP8StatusCode vp8 = VP8_STATUS_INVALID_PARAM;
    if (WebPInitDecoderConfig(&config)) {
        size_t offset = (size_t)frame.y_offset * stride + (size_t)frame.x_offset * 3;
        config.options.use_threads = 0;
        config.output.colorspace = MODE_RGB;
        config.output.is_external_memory = 1;
        config.output.u.RGBA.rgba = rgb + offset;
        config.output.u.RGBA.stride = (int)stride;
        config.output.u.RGBA.size = bytes - offset; /* libwebp checks the frame fits in this */
        vp8 = WebPDecode(frame.fragment.bytes, frame.fragment.size, &config);
        WebPFreeDecBuffer(&config.output); /* external memory: frees nothing of ours */
    }
    WebPDemuxReleaseIterator(&frame);
    WebPDemuxDelete(demux);
    if (vp8 != VP8_STATUS_OK) {
        free(rgb);
        static const char *const why[] = {
            "ok",        "out of memory", "invalid parameter", "bitstream error", "unsupported feature",
            "suspended", "user abort",    "not enough data"};
        return rams_fail(vp8 == VP8_STATUS_OUT_OF_MEMORY ? RAMS_ERR_NO_MEMORY : RAMS_ERR_FORMAT,
                         "%s: bad WebP: %s", name,
                         (unsigned)vp8 < sizeof why / sizeof *why ? why[vp8] : "decoding failed");
    }
    out->width = (int)width;
    out->height = (int)height;
    out->rgb = rgb;
    return RAMS_OK;
}

rams_status rams_image_decode(const uint8_t *data, size_t size, const char *name, size_t max_pixels,
                              rams_image *out)
{
    if (!out) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "image_decode: NULL output");
    memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    if (!data) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "%s: NULL data", name);
    if (max_pixels == 0) max_pixels = RAMS_DEFAULT_MAX_PIXELS;
    switch (rams_sniff(data, size)) {
    case RAMS_FILE_JPEG: return decode_jpeg(data, size, name, max_pixels, out);
    case RAMS_FILE_PNG: return decode_png(data, size, name, max_pixels, out);
    case RAMS_FILE_WEBP: return decode_webp(data, size, name, max_pixels, out);
    default: return rams_fail(RAMS_ERR_FORMAT, "%s: not a JPEG, PNG or WebP image", name);
    }
}
