// A client connection. It lives on the worker that accepted it and only that worker's thread
// touches it; its reading, parsing, reply ordering, writing and output limits are that
// worker's code in connection.cc. Commands read and set the public fields.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proto/resp_parser.h"
#include "server/message.h"

namespace dynis::server {

class Worker;

class Client {
 public:
  Client(Worker* w, uint64_t id);

  uint64_t id() const { return id_; }
  Worker* worker() const { return worker_; }

  // Connection state read by commands.
  int resp = 2;
  bool authenticated = false;
  std::string name;
  std::string lib_name;
  std::string lib_ver;
  std::string addr;   // ip:port of the peer
  std::string laddr;  // ip:port of our side
  int fd = -1;
  int64_t created_ms = 0;
  int64_t last_interaction_ms = 0;
  std::string last_command = "NULL";
  bool no_evict = false;

  // MULTI state.
  bool in_multi = false;
  bool multi_error = false;
  std::vector<std::vector<std::string>> multi_queue;
  // WATCH: each key's stored record at WATCH time (nullopt = none) and whether it held a live
  // value then; EXEC compares (transactions.cc).
  struct WatchedKey {
    std::string key;
    std::optional<std::string> record;
    bool live = false;
  };
  std::vector<WatchedKey> watched;

  // A connection on the cluster port: a peer node, which must authenticate with the cluster
  // secret (DYNIS.HELLO, DYNIS.AUTH) before anything else.
  bool peer_port = false;
  bool peer_authenticated = false;
  std::string peer_link_nonce;    // from DYNIS.HELLO
  std::string peer_server_nonce;  // ours, sent in the HELLO answer

  bool close_after_reply = false;
  bool kill_requested = false;  // CLIENT KILL from another worker, applied by ours

  size_t query_buffer_bytes() const { return in_.size(); }
  size_t output_bytes() const { return out_.size() + writing_.size(); }
  size_t pending_replies() const { return slots_.size(); }

 private:
  friend class Worker;
  Worker* worker_;
  uint64_t id_;
  uv_tcp_t tcp_;
  uv_write_t write_req_;
  std::string in_;
  std::string out_;
  std::string writing_;  // the bytes of the uv_write in flight
  proto::RequestParser parser_;
  std::deque<std::shared_ptr<Slot>> slots_;
  bool reading_ = false;
  bool parked_ = false;  // waiting for its forwarded commands before the next one
  bool has_parked_argv_ = false;
  std::vector<std::string> parked_argv_;  // the command that waits for them
  bool closing_ = false;
  bool dirty_ = false;  // has output to write this turn
  bool wrote_this_turn_ = false;
  int64_t soft_limit_since_ms_ = 0;
};

}  // namespace dynis::server
