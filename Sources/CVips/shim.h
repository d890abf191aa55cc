#ifndef WHARF_CVIPS_SHIM_H
#define WHARF_CVIPS_SHIM_H

#include <vips/vips.h>

/* Typed wrappers for libvips' variadic calls (Swift cannot call C varargs functions). libvips
   decodes every image format it reads itself; Wharf only asks for sizes, thumbnails and WebP. */

static inline int wharf_vips_start(void) { return VIPS_INIT("wharf"); }

static inline void wharf_vips_clear_error(void) { vips_error_clear(); }

static inline const char *wharf_vips_error(void) { return vips_error_buffer(); }

/* The loader libvips picks for the file from its content ("VipsForeignLoadJpegFile", ...), or NULL
   when libvips cannot read it as an image. */
static inline const char *wharf_vips_loader(const char *path) { return vips_foreign_find_load(path); }

/* Width, height and page count (animated images have several) from the header only. */
static inline int wharf_vips_header(const char *path, int *width, int *height, int *pages) {
    VipsImage *image = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    if (!image) return -1;
    *width = vips_image_get_width(image);
    *height = vips_image_get_height(image);
    *pages = vips_image_get_n_pages(image);
    g_object_unref(image);
    return 0;
}

/* A JPEG of the image shrunk to fit `size` pixels; free *buffer with g_free. */
static inline int wharf_vips_jpeg_thumbnail(const char *path, int size, int quality, void **buffer, size_t *length) {
    VipsImage *thumbnail = NULL;
    if (vips_thumbnail(path, &thumbnail, size, NULL)) return -1;
    VipsImage *flat = NULL;
    int failed = vips_image_hasalpha(thumbnail)
        ? vips_flatten(thumbnail, &flat, "background", vips_array_double_newv(3, 255.0, 255.0, 255.0), NULL)
        : (g_object_ref(thumbnail), flat = thumbnail, 0);
    g_object_unref(thumbnail);
    if (failed) return -1;
    int result = vips_jpegsave_buffer(flat, buffer, length, "Q", quality, "strip", TRUE, NULL);
    g_object_unref(flat);
    return result;
}

/* The same for an encoded image in memory (a video frame). */
static inline int wharf_vips_jpeg_thumbnail_buffer(const void *data, size_t size_in, int size, int quality, void **buffer, size_t *length) {
    VipsImage *thumbnail = NULL;
    if (vips_thumbnail_buffer((void *)data, size_in, &thumbnail, size, NULL)) return -1;
    int result = vips_jpegsave_buffer(thumbnail, buffer, length, "Q", quality, "strip", TRUE, NULL);
    g_object_unref(thumbnail);
    return result;
}

/* A sticker: the image fitted into `size` x `size` and written as WebP to `out`. */
static inline int wharf_vips_webp(const char *path, int size, const char *out) {
    VipsImage *thumbnail = NULL;
    if (vips_thumbnail(path, &thumbnail, size, "height", size, NULL)) return -1;
    int result = vips_webpsave(thumbnail, out, "Q", 80, NULL);
    g_object_unref(thumbnail);
    return result;
}

static inline void wharf_vips_free(void *buffer) { g_free(buffer); }

#endif
