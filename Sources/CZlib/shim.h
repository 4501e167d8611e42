#ifndef SLOTCTL_CZLIB_SHIM_H
#define SLOTCTL_CZLIB_SHIM_H
#include <zlib.h>

/* zlib's init entry points are macros that Swift cannot see. */
static inline int czlib_inflate_init_gzip(z_streamp strm) {
    /* 16 + MAX_WBITS: expect a gzip header and trailer. */
    return inflateInit2(strm, 16 + MAX_WBITS);
}

static inline int czlib_deflate_init_gzip(z_streamp strm, int level) {
    return deflateInit2(strm, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
}

/* Raw deflate (no header, no trailer): the chunked payload writes its own
   gzip header and trailer around it so every chunk's bytes can be found. */
static inline int czlib_deflate_init_raw(z_streamp strm, int level) {
    return deflateInit2(strm, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
}

static inline int czlib_inflate_init_raw(z_streamp strm) {
    return inflateInit2(strm, -MAX_WBITS);
}
#endif
