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

#include "commands/client_state.h"
#include "proto/resp_parser.h"
#include "server/message.h"

namespace dynis::server {

class Worker;

// A connection: the state commands see (commands/client_state.h) and the loop's own buffers.
class Client final : public ClientState {
 public:
  Client(Worker* w, uint64_t id);

  Worker* worker() const { return worker_; }

  size_t query_buffer_bytes() const override { return in_.size(); }
  size_t output_bytes() const override { return out_.size() + writing_.size(); }
  size_t pending_replies() const override { return slots_.size(); }

 private:
  friend class Worker;
  Worker* worker_;
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
