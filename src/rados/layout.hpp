#pragma once
/// How ftq lays its objects out in a RADOS pool (docs/rados.md). One place, so the checkpoint
/// store, the ownership leases and the job registry agree on every name and attribute.
///
/// For a store "rados://POOL/PREFIX" and query Q, "dir" is "PREFIX/Q" ("Q" with no prefix):
///   PREFIX/ftq.index          omap: Q -> "" for every query that has a manifest (listing)
///   DIR/manifest              the query's manifest: the single object whose compound
///                             operations make commits atomic and fence stale owners
///     xattr ftq.version       decimal u64; +1 on every change of the manifest's entries,
///                             ownership or state (a commit's compare-and-set reads it)
///     xattr ftq.owner         the lease holder's worker id (empty: never owned)
///     xattr ftq.lease_until   unix ms the current lease runs to (status only; RADOS decides)
///     xattr ftq.released_by   the holder that released its lease on purpose ("" once taken again)
///     xattr ftq.state         "", "queued", "running", "succeeded", "failed"
///     xattr ftq.result        JSON of the committed result (job_registry), once succeeded
///     omap  f/<file name>     one committed checkpoint file: "<unique> <bytes> <chunks>"
///     omap  h/<20-digit seq>  ownership history: JSON {"at","from","to","why"} per change
///     lock  ftq.lease         the ownership lease (cls_lock exclusive, with a duration)
///   DIR/<file name>@<unique>.<i>   chunk i of a checkpoint file's bytes (<= chunk size each)
///   DIR/job                   the submitted job: JSON {plan, data, out, submitted_at, ...}
///   DIR/result@<unique>.<i>   chunk i of the committed result CSV
/// <unique> is "<client instance id>-<counter>": never reused, so a crashed writer's chunks are
/// exactly those no manifest entry references.

#include <string>
#include <string_view>

namespace ftq::rados::layout {

inline constexpr std::string_view index_object = "ftq.index";
inline constexpr std::string_view manifest_object = "manifest";
inline constexpr std::string_view job_object = "job";
inline constexpr std::string_view result_name = "result";

inline constexpr const char* version_attr = "ftq.version";
inline constexpr const char* owner_attr = "ftq.owner";
inline constexpr const char* lease_until_attr = "ftq.lease_until";
inline constexpr const char* state_attr = "ftq.state";
inline constexpr const char* released_attr = "ftq.released_by";
inline constexpr const char* result_attr = "ftq.result";
inline constexpr const char* lease_lock = "ftq.lease";

inline constexpr std::string_view file_key_prefix = "f/";
inline constexpr std::string_view history_key_prefix = "h/";

/// "a/b" + "c" -> "a/b/c"; an empty `dir` gives `name`.
inline std::string join(std::string_view dir, std::string_view name) {
  return dir.empty() ? std::string(name) : std::string(dir) + "/" + std::string(name);
}
inline std::string manifest_oid(std::string_view dir) { return join(dir, manifest_object); }
inline std::string job_oid(std::string_view dir) { return join(dir, job_object); }
inline std::string index_oid(std::string_view prefix) { return join(prefix, index_object); }
/// Chunk i of file `name` written with `unique`.
inline std::string chunk_oid(std::string_view dir, std::string_view name, std::string_view unique, std::size_t i) {
  return join(dir, std::string(name) + "@" + std::string(unique) + "." + std::to_string(i));
}

}  // namespace ftq::rados::layout
