#ifndef SLOTCTL_SLOTSYS_H
#define SLOTCTL_SLOTSYS_H
/* Linux facilities whose C spelling Swift cannot import: variadic ioctl and
 * function-like request macros. One function per fact, nothing else. */
#include <stdint.h>

/* Size of a block device in bytes (BLKGETSIZE64). Returns 0 or -errno. */
int slotsys_block_device_size(int fd, uint64_t *size);
/* Flush the buffer cache of a block device (BLKFLSBUF). Returns 0 or -errno. */
int slotsys_block_flush_buffers(int fd);
/* The O_DIRECT open flag of this platform. */
int slotsys_o_direct(void);


/* Write out a file range and wait until it reached the device
 * (sync_file_range with WAIT_BEFORE | WRITE | WAIT_AFTER), or only start the
 * writeout when wait is 0. Returns 0 or -errno. */
int slotsys_sync_range(int fd, int64_t offset, int64_t length, int wait);
#endif
