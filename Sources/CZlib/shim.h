#include <zlib.h>

/// inflateInit is a macro over inflateInit_; Swift cannot call macros that take arguments.
static inline int wharf_inflate_init(z_stream *stream) {
    return inflateInit(stream);
}
