#pragma once
/// The status endpoint: a small HTTP/1.1 server (Boost.Beast) on the engine's own executor, for
/// people and monitoring tools to watch an engine that a service embeds.
///
///   GET  /                          the dashboard (one page served from the binary)
///   GET  /healthz                   "ok" while the engine is up
///   GET  /status                    the engine, every query and its operators (JSON)
///   GET  /queries/{id}              one query (JSON)
///   GET  /failures?query=&operator=&since=&limit=   the failure history (JSON)
///   GET  /checkpoints?query=        checkpoints queries committed (JSON)
///   GET  /metrics                   Prometheus text exposition format 0.0.4
///   POST /queries/{id}/cancel       cancel it (?checkpoint=true: stop after a final checkpoint)
///   POST /queries/{id}/checkpoint   take a checkpoint at its next batch boundary
///
/// POSTs need `Authorization: Bearer <token>` with the configured token (compared in constant
/// time): 401 without or with a wrong one; with no token configured they are off (403). Every
/// error is a JSON body {"error": ..., "status": N}. The server bounds header and body sizes,
/// the time a request may take to arrive (slowloris) and the number of open connections; a bad
/// request costs its sender a 4xx and nothing else. Sessions are coroutines on the executor the
/// server was given (usually the engine's): no threads of its own, and no blocking call, so the
/// queries sharing that executor never wait on it for more than one request's work.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace ftq {

class fault_tolerant_execution_engine;

struct status_server_options {
  /// Where to listen. The default is loopback only: the endpoint shows plan names, file paths and
  /// error messages, and a wider bind must be asked for.
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;  // 0: any free port (local_endpoint() tells which)
  /// Bearer token the POST endpoints require; empty: they are off (403). See load_status_token().
  std::string token{};
  std::size_t max_connections = 64;     // more are answered 503 and closed
  std::size_t max_header_bytes = 8192;  // request line and headers; more: 431
  std::size_t max_body_bytes = 4096;    // more: 413
  /// Longest a request may take to arrive once its first byte has (slowloris), and longest an
  /// idle keep-alive connection stays open.
  std::chrono::milliseconds read_timeout{5000};
  std::chrono::milliseconds idle_timeout{30000};
  std::chrono::milliseconds write_timeout{5000};
};

/// Reads the token: from `file` if given (its first line, whitespace trimmed), else from the
/// environment variable `env_var` (empty if unset). Throws ftq::error(invalid_argument) for an
/// unreadable file, an empty token from a file, or a token shorter than 16 characters.
std::string load_status_token(const std::filesystem::path& file, const char* env_var = "FTQ_STATUS_TOKEN");

/// Counters of the server itself (they also appear under /metrics).
struct status_server_stats {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_refused = 0;  // over max_connections
  std::uint64_t connections_open = 0;
  std::uint64_t requests = 0;
  std::uint64_t bad_requests = 0;  // answered 4xx
  std::uint64_t timeouts = 0;      // connections closed by read, idle or write timeouts
};

class status_server {
 public:
  /// Binds and listens at once (throws ftq::error(io_error) with the address when it cannot);
  /// serves once start() is called. `executor` runs its coroutines: pass the engine's.
  status_server(fault_tolerant_execution_engine& engine, boost::asio::any_io_executor executor,
                status_server_options options = {});
  status_server(fault_tolerant_execution_engine& engine, status_server_options options = {});
  ~status_server();
  status_server(const status_server&) = delete;
  status_server& operator=(const status_server&) = delete;

  void start();
  /// Stops accepting and closes every connection; returns at once. The coroutines finish on the
  /// executor soon after; the server may be destroyed once they have (run the executor) or the
  /// executor is stopped.
  void stop();

  boost::asio::ip::tcp::endpoint local_endpoint() const;
  /// "http://127.0.0.1:8080/"
  std::string url() const;
  status_server_stats stats() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace ftq
