#pragma once
// The live cluster the rados-tests binary runs against (tests/rados/with-cluster.sh exports
// FTQ_TEST_RADOS and CEPH_CONF), and two independent clients of it to play two workers.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include <doctest/doctest.h>

#include "io/rados_store.hpp"
#include "rados/connection.hpp"

namespace ftq::test::rados_cluster {

inline std::string pool() {
  const char* uri = std::getenv("FTQ_TEST_RADOS");
  const char* conf = std::getenv("CEPH_CONF");
  if (uri == nullptr || conf == nullptr) {
    FAIL("FTQ_TEST_RADOS and CEPH_CONF are not set: run the RADOS tests through tests/rados/with-cluster.sh");
  }
  return ftq::rados::parse_store_uri(uri).pool;
}

inline std::shared_ptr<ftq::rados::connection> connect() {
  ftq::rados::connect_options o;
  o.pool = pool();
  o.conf_path = std::getenv("CEPH_CONF");
  o.connect_timeout = std::chrono::seconds(10);
  o.op_timeout = std::chrono::seconds(10);
  return ftq::rados::connection::connect(o);
}

/// Two clients, each its own librados instance (its own client id to the cluster's locks).
inline std::shared_ptr<ftq::rados::connection> client_a() {
  static auto c = connect();
  return c;
}
inline std::shared_ptr<ftq::rados::connection> client_b() {
  static auto c = connect();
  return c;
}

/// A name space of its own for each test case: "<what>-<pid>-<n>".
inline std::string unique_prefix(const std::string& what) {
  static std::atomic<int> counter{0};
  return what + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

/// A RADOS store on `client` whose prefix is `root`, completing on `executor`.
inline std::shared_ptr<ftq::io::rados_store> store_on(
    boost::asio::any_io_executor executor, std::shared_ptr<ftq::rados::connection> client, const std::string& root,
    std::size_t chunk_bytes = ftq::io::rados_store_options{}.chunk_bytes) {
  ftq::io::rados_store_options o;
  o.root = root;
  o.chunk_bytes = chunk_bytes;
  return std::make_shared<ftq::io::rados_store>(std::move(executor), std::move(client), o);
}

}  // namespace ftq::test::rados_cluster
