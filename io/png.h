/* io/png.h - writing 8-bit grayscale PNG images (RFC 2083).
 *
 * Just what an image grid needs: one IHDR (colour type 0, bit depth 8,
 * no interlace), the rows (each prefixed with filter type 0, "none")
 * zlib-deflated into one IDAT, and IEND; every chunk carries the CRC-32 of
 * its type and data (zlib's crc32 is the PNG CRC). Written to a temporary
 * file in the same directory, then renamed, so the target is never left
 * half-written.
 */
#ifndef IO_PNG_H
#define IO_PNG_H

#include <stddef.h> /* size_t */
#include "nn/error.h"

/* Write pix[height][width] (row-major, one byte per pixel, 0 = black) to
 * `path`. width and height must be in [1, 2^31 - 1] (the PNG limit) and
 * the image below 1 GiB; otherwise NN_EXIT_USAGE. File errors are
 * NN_EXIT_DATA with the path and strerror. Returns 0 or the code. */
int io_png_write_gray(const char *path, const unsigned char *pix,
                      size_t width, size_t height, nn_error *err);

#endif
