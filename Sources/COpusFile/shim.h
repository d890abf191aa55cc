#ifndef WHARF_COPUSFILE_SHIM_H
#define WHARF_COPUSFILE_SHIM_H

#include <opusfile.h>

/* The length in milliseconds of an Ogg Opus file (what WhatsApp's voice notes are), or -1 when
   libopusfile cannot open it as one. */
static inline long long wharf_opus_duration_ms(const char *path) {
    int error = 0;
    OggOpusFile *file = op_open_file(path, &error);
    if (!file) return -1;
    ogg_int64_t samples = op_pcm_total(file, -1);
    op_free(file);
    return samples < 0 ? -1 : (long long)(samples / 48);
}

#endif
