/* Reading files: the one place the library opens a file for its bytes (inputs, models, sniffing). */
#ifndef RAMS_FILE_H
#define RAMS_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "ramstrans.h"

/* Opens path read-only and refuses anything but a regular file: a directory, a FIFO (whose open
 * does not wait for a writer), a device.  *fd is the caller's to close; *size the file's size. */
rams_status rams_open_regular(const char *path, int *fd, uint64_t *size);

/* Reads exactly `size` bytes from fd into a new buffer (free() it; never malloc(0)). */
rams_status rams_read_fd(const char *path, int fd, size_t size, uint8_t **data);

/* Reads a whole regular file into memory, refusing files above max_bytes (0: no limit). */
rams_status rams_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size);

/* Reads the first (up to) `cap` bytes of a regular file: *got may be less for a shorter file. */
rams_status rams_read_head(const char *path, uint8_t *buf, size_t cap, size_t *got);

#endif
