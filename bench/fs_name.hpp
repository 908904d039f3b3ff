#pragma once
// Which filesystem a benchmark directory is on, for the figures' context: a commit on tmpfs
// costs no disk at all.

#include <linux/magic.h>
#include <sys/statfs.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace ftq::bench {

inline std::string fs_name(const std::filesystem::path& dir) {
  struct statfs s {};
  if (::statfs(dir.c_str(), &s) != 0) {
    return "unknown";
  }
  switch (static_cast<unsigned long>(s.f_type)) {
    case EXT4_SUPER_MAGIC:
      return "ext4";
    case TMPFS_MAGIC:
      return "tmpfs (fsync is free: figures are not disk figures)";
    case XFS_SUPER_MAGIC:
      return "xfs";
    case BTRFS_SUPER_MAGIC:
      return "btrfs";
    case OVERLAYFS_SUPER_MAGIC:
      return "overlayfs";
    case NFS_SUPER_MAGIC:
      return "nfs";
    default: {
      char hex[32];
      std::snprintf(hex, sizeof hex, "0x%lx", static_cast<unsigned long>(s.f_type));
      return std::string("fs magic ") + hex;
    }
  }
}

}  // namespace ftq::bench
