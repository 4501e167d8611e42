#ifndef SLOTCTL_CBLKID_SHIM_H
#define SLOTCTL_CBLKID_SHIM_H
#include <blkid.h>
#endif
