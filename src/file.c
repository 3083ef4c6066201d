#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

rams_status rams_open_regular(const char *path, int *fd, uint64_t *size)
{
    *fd = -1;
    *size = 0;
    /* O_NONBLOCK: a FIFO must not make the open wait for a writer; it is refused below. */
    int f = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f < 0) return rams_fail(RAMS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(f, &st) != 0) {
        int e = errno;
        close(f);
        return rams_fail(RAMS_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(f);
        return rams_fail(
            RAMS_ERR_IO,
            S_ISDIR(st.st_mode) ? "%s: is a directory, not a regular file" : "%s: not a regular file", path);
    }
    *fd = f;
    *size = st.st_size < 0 ? 0 : (uint64_t)st.st_size;
    return RAMS_OK;
}

/* Up to n bytes, retrying interrupted reads; stops at the end of the file.  -1 on an error. */
static ssize_t read_upto(int fd, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

rams_status rams_read_fd(const char *path, int fd, size_t size, uint8_t **data)
{
    *data = NULL;
    uint8_t *buf = malloc(size ? size : 1); /* never malloc(0): an empty file still gets a buffer */
    if (!buf) return rams_fail(RAMS_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes", path, size);
    ssize_t got = read_upto(fd, buf, size);
    if (got != (ssize_t)size) {
        free(buf);
        return rams_fail(RAMS_ERR_IO, "%s: read %zu of %zu bytes", path, got < 0 ? (size_t)0 : (size_t)got,
                         size);
    }
    *data = buf;
    return RAMS_OK;
}

rams_status rams_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *size)
{
    if (!path || !data || !size) return rams_fail(RAMS_ERR_INVALID_ARGUMENT, "read_file: NULL argument");
    *data = NULL;
    *size = 0;
    int fd;
    uint64_t bytes;
    rams_status st = rams_open_regular(path, &fd, &bytes);
    if (st != RAMS_OK) return st;
    if (bytes > (uint64_t)SIZE_MAX - 1 || (max_bytes && bytes > (uint64_t)max_bytes)) {
        close(fd);
        return rams_fail(RAMS_ERR_LIMIT, "%s: file of %llu bytes is above the limit of %zu bytes", path,
                         (unsigned long long)bytes, max_bytes);
    }
    st = rams_read_fd(path, fd, (size_t)bytes, data);
    close(fd);
    if (st == RAMS_OK) *size = (size_t)bytes;
    return st;
}

rams_status rams_read_head(const char *path, uint8_t *buf, size_t cap, size_t *got)
{
    *got = 0;
    int fd;
    uint64_t bytes;
    rams_status st = rams_open_regular(path, &fd, &bytes);
    if (st != RAMS_OK) return st;
    ssize_t n = read_upto(fd, buf, cap);
    int e = errno;
    close(fd);
    if (n < 0) return rams_fail(RAMS_ERR_IO, "%s: cannot read: %s", path, strerror(e));
    *got = (size_t)n;
    return RAMS_OK;
}
