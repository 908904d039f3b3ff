#pragma once
/// The status endpoint on the command line (`ftq run` and `ftq demo`): --status HOST:PORT starts
/// a status_server on the command's io_context and prints its URL; --status-token-file (else
/// FTQ_STATUS_TOKEN) enables the POST endpoints; --status-linger keeps it serving that long once
/// the queries are done (SIGINT or SIGTERM ends the wait early), so the last state can be read.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/program_options.hpp>

#include <ftq/engine.hpp>
#include <ftq/status_server.hpp>

namespace ftq::cli {

struct status_flags {
  std::string address;     // empty: no endpoint
  std::string token_file;  // empty: FTQ_STATUS_TOKEN
  std::string linger;      // duration text; empty: the command's default
};

/// Adds --status, --status-token-file and --status-linger to `flags`.
void add_status_flags(boost::program_options::options_description& flags, status_flags& out,
                      std::string_view linger_default_help);
/// Throws boost::program_options::error for an address or linger that does not parse.
void check_status_flags(const status_flags& f);

/// "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT" (host 127.0.0.1). Throws
/// boost::program_options::error naming --status otherwise.
status_server_options parse_status_address(const std::string& text);

/// A running endpoint for a command, and its linger once the queries are done.
class status_endpoint {
 public:
  /// Starts the server (throws ftq::error when it cannot listen or the token is unusable) and
  /// prints "status: URL" through `say`.
  status_endpoint(boost::asio::io_context& io, engine& eng, const status_flags& flags,
                  std::chrono::milliseconds default_linger, std::function<void(std::string)> say);
  ~status_endpoint();
  status_endpoint(const status_endpoint&) = delete;
  status_endpoint& operator=(const status_endpoint&) = delete;

  /// The queries are done: serve for the linger time (or until SIGINT/SIGTERM), then stop, so
  /// io_context::run() returns.
  void queries_done();
  std::string url() const { return server_->url(); }

 private:
  void stop();

  boost::asio::io_context& io_;
  std::unique_ptr<status_server> server_;
  std::chrono::milliseconds linger_;
  std::function<void(std::string)> say_;
  boost::asio::steady_timer timer_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  bool stopped_ = false;
};

}  // namespace ftq::cli
