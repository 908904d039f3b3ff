#include "cli/status_option.hpp"

#include <charconv>
#include <csignal>

#include "cli/flags.hpp"

namespace ftq::cli {

namespace po = boost::program_options;

void add_status_flags(po::options_description& flags, status_flags& out, std::string_view linger_default_help) {
  flags.add_options()("status", po::value(&out.address),
                      "serve the status endpoint (dashboard, JSON, Prometheus /metrics) on HOST:PORT; :PORT binds "
                      "127.0.0.1, port 0 any free port (docs/status-endpoint.md)")(
      "status-token-file", po::value(&out.token_file),
      "bearer token (first line, 16+ characters) that POST /queries/{id}/cancel and /checkpoint require (else "
      "FTQ_STATUS_TOKEN; neither: they are off)")(
      "status-linger", po::value(&out.linger),
      std::string(
          "keep serving the status endpoint this long after the queries finish (SIGINT/SIGTERM ends it early); ")
          .append(linger_default_help)
          .c_str());
}

status_server_options parse_status_address(const std::string& text) {
  status_server_options o;
  const auto bad = [&text](const std::string& why) {
    return po::error("--status must be HOST:PORT, :PORT or PORT (" + why + "), not '" + text + "'");
  };
  std::string host;
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      throw bad("an IPv6 address goes in brackets: [::1]:8080");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  } else {
    port_text = text;
  }
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{} || end != port_text.data() + port_text.size() || port > 65535) {
    throw bad("the port is a number from 0 to 65535");
  }
  if (!host.empty()) {
    o.host = host;
  }
  o.port = static_cast<std::uint16_t>(port);
  return o;
}

void check_status_flags(const status_flags& f) {
  if (f.address.empty()) {
    if (!f.token_file.empty() || !f.linger.empty()) {
      throw po::error("--status-token-file and --status-linger need --status");
    }
    return;
  }
  (void)parse_status_address(f.address);
  if (!f.linger.empty() && f.linger != "0") {
    (void)parse_duration_flag(f.linger, "--status-linger");
  }
}

status_endpoint::status_endpoint(boost::asio::io_context& io, engine& eng, const status_flags& flags,
                                 std::chrono::milliseconds default_linger, std::function<void(std::string)> say)
    : io_(io), linger_(default_linger), say_(std::move(say)), timer_(io) {
  status_server_options o = parse_status_address(flags.address);
  o.token = load_status_token(flags.token_file);
  if (!flags.linger.empty()) {
    linger_ = flags.linger == "0" ? std::chrono::milliseconds(0) : parse_duration_flag(flags.linger, "--status-linger");
  }
  server_ = std::make_unique<status_server>(eng, io.get_executor(), o);
  server_->start();
  say_("status: " + server_->url() + (o.token.empty() ? "" : "  (POST endpoints need the bearer token)"));
}

status_endpoint::~status_endpoint() {
  if (server_) {
    server_->stop();
  }
}

void status_endpoint::queries_done() {
  if (linger_ <= std::chrono::milliseconds(0)) {
    stop();
    return;
  }
  say_("status: still serving " + server_->url() + " for " + std::to_string(linger_.count() / 1000) +
       "s (Ctrl-C ends it)");
  signals_ = std::make_unique<boost::asio::signal_set>(io_, SIGINT, SIGTERM);
  signals_->async_wait([this](const boost::system::error_code& ec, int) {
    if (!ec) {
      stop();
    }
  });
  timer_.expires_after(linger_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) {
      stop();
    }
  });
}

void status_endpoint::stop() {
  if (stopped_) {
    return;
  }
  stopped_ = true;
  timer_.cancel();
  if (signals_) {
    boost::system::error_code ignored;
    signals_->cancel(ignored);
  }
  server_->stop();
}

}  // namespace ftq::cli
