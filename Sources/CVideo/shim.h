#ifndef WHARF_CVIDEO_SHIM_H
#define WHARF_CVIDEO_SHIM_H

#include <libavformat/avformat.h>
#include <libffmpegthumbnailer/videothumbnailerc.h>

/* Duration (ms, -1 unknown) and the first video stream's size, read by FFmpeg's demuxers.
   Returns 1 for a file with a video stream, 0 for one without (audio), -1 for one FFmpeg cannot read. */
static inline int wharf_av_probe(const char *path, long long *duration_ms, int *width, int *height) {
    av_log_set_level(AV_LOG_QUIET);
    AVFormatContext *context = NULL;
    *duration_ms = -1;
    *width = 0;
    *height = 0;
    if (avformat_open_input(&context, path, NULL, NULL) < 0) return -1;
    if (avformat_find_stream_info(context, NULL) < 0) {
        avformat_close_input(&context);
        return -1;
    }
    if (context->duration != AV_NOPTS_VALUE) *duration_ms = context->duration / 1000;
    int stream = av_find_best_stream(context, AVMEDIA_TYPE_VIDEO, -1, -1, NULL, 0);
    if (stream >= 0) {
        *width = context->streams[stream]->codecpar->width;
        *height = context->streams[stream]->codecpar->height;
    }
    avformat_close_input(&context);
    return stream >= 0 ? 1 : 0;
}

/* A JPEG frame from early in the video, `size` pixels on its longer side (ffmpegthumbnailer picks a
   frame that is not black); free with wharf_video_free_image. */
static inline image_data *wharf_video_thumbnail(const char *path, int size) {
    video_thumbnailer *thumbnailer = video_thumbnailer_create();
    if (!thumbnailer) return NULL;
    video_thumbnailer_set_size(thumbnailer, size, 0);
    thumbnailer->thumbnail_image_type = Jpeg;
    thumbnailer->thumbnail_image_quality = 60;
    thumbnailer->seek_percentage = 10;
    image_data *image = video_thumbnailer_create_image_data();
    if (image && video_thumbnailer_generate_thumbnail_to_buffer(thumbnailer, path, image) != 0) {
        video_thumbnailer_destroy_image_data(image);
        image = NULL;
    }
    video_thumbnailer_destroy(thumbnailer);
    return image;
}

static inline void wharf_video_free_image(image_data *image) { video_thumbnailer_destroy_image_data(image); }

#endif
