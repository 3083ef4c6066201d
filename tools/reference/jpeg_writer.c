/* Writes JPEG variants that PIL cannot write (YCCK colour, 4:1:1 and 4:4:0 subsampling, restart
 * markers, arithmetic coding) with libjpeg, for tools/reference/make_image_golden.py.  The expected pixels of
 * these files still come from PIL, which decodes them; this tool only makes the inputs.
 *
 *   jpeg_writer OUT.jpg KIND [SAMPLING] < raw      (raw: "W H C\n" then W*H*C bytes, C = 3 or 4)
 *   KIND: ycc (3 components, YCbCr), rgb (3 components stored as RGB, Adobe transform 0), ycck (4 components CMYK in, stored as YCCK), cmyk (4, plain),
 *         ycc-restart (restart marker every row of MCUs), ycc-arith (arithmetic coding),
 *         ycc-manyscans (a valid progressive file of 2080 scans: each AC coefficient of each
 *         component sent alone, bit plane by bit plane)
 *   SAMPLING: luma h x v factors, e.g. 4x1 (4:1:1) or 1x2 (4:4:0); chroma stays 1x1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: jpeg_writer OUT.jpg KIND [HxV] < raw\n");
        return 2;
    }
    int w, h, c;
    if (scanf("%d %d %d", &w, &h, &c) != 3 || getchar() != '\n' || w <= 0 || h <= 0 || (c != 3 && c != 4)) {
        fprintf(stderr, "bad raw header\n");
        return 2;
    }
    size_t n = (size_t)w * h * c;
    unsigned char *pix = malloc(n);
    if (!pix || fread(pix, 1, n, stdin) != n) {
        fprintf(stderr, "short raw data\n");
        return 2;
    }
    FILE *out = fopen(argv[1], "wb");
    if (!out) {
        perror(argv[1]);
        return 2;
    }
    const char *kind = argv[2];
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, out);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = c;
    cinfo.in_color_space = c == 4 ? JCS_CMYK : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 85, TRUE);
    if (strcmp(kind, "ycck") == 0) jpeg_set_colorspace(&cinfo, JCS_YCCK);
    else if (strcmp(kind, "cmyk") == 0) jpeg_set_colorspace(&cinfo, JCS_CMYK);
    else if (strcmp(kind, "rgb") == 0) jpeg_set_colorspace(&cinfo, JCS_RGB); /* no YCbCr transform */
    else if (strcmp(kind, "ycc-restart") == 0) cinfo.restart_in_rows = 1;
    else if (strcmp(kind, "ycc-arith") == 0) cinfo.arith_code = TRUE;
    else if (strcmp(kind, "ycc-manyscans") == 0) {
        static jpeg_scan_info scans[1 + 3 * 63 * 11];
        int n = 0;
        scans[n].comps_in_scan = 3;
        for (int ci = 0; ci < 3; ci++) scans[n].component_index[ci] = ci;
        scans[n].Ss = scans[n].Se = scans[n].Ah = scans[n].Al = 0;
        n++;
        for (int ci = 0; ci < 3; ci++)
            for (int k = 1; k < 64; k++)
                for (int a = 10; a >= 0; a--) {
                    scans[n].comps_in_scan = 1;
                    scans[n].component_index[0] = ci;
                    scans[n].Ss = scans[n].Se = k;
                    scans[n].Ah = a == 10 ? 0 : a + 1;
                    scans[n].Al = a;
                    n++;
                }
        cinfo.scan_info = scans;
        cinfo.num_scans = n;
    } else if (strcmp(kind, "ycc") != 0) {
        fprintf(stderr, "unknown kind %s\n", kind);
        return 2;
    }
    if (argc > 3) {
        int hs, vs;
        if (sscanf(argv[3], "%dx%d", &hs, &vs) != 2) return 2;
        cinfo.comp_info[0].h_samp_factor = hs;
        cinfo.comp_info[0].v_samp_factor = vs;
        for (int i = 1; i < cinfo.num_components; i++)
            cinfo.comp_info[i].h_samp_factor = cinfo.comp_info[i].v_samp_factor = 1;
        if (cinfo.num_components == 4)
            cinfo.comp_info[3].h_samp_factor = hs, cinfo.comp_info[3].v_samp_factor = vs;
    }
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = pix + (size_t)cinfo.next_scanline * w * c;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    fclose(out);
    free(pix);
    return 0;
}
