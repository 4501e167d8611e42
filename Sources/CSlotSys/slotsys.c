#define _GNU_SOURCE
#include "slotsys.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

int slotsys_block_device_size(int fd, uint64_t *size) {
    return ioctl(fd, BLKGETSIZE64, size) == 0 ? 0 : -errno;
}

int slotsys_block_flush_buffers(int fd) {
    return ioctl(fd, BLKFLSBUF, 0) == 0 ? 0 : -errno;
}

int slotsys_o_direct(void) { return O_DIRECT; }

int slotsys_sync_range(int fd, int64_t offset, int64_t length, int wait) {
    unsigned int flags = wait
        ? (SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER)
        : SYNC_FILE_RANGE_WRITE;
    return sync_file_range(fd, offset, length, flags) == 0 ? 0 : -errno;
}
