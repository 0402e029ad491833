// The connection state commands read and write: one client connection as the command handlers
// see it, without the event loop's buffers and handles (server::Client derives from it and
// keeps those). Owned by the connection's loop; only that loop touches it, except while every
// other loop is paused by the barrier (CLIENT LIST/KILL read every client then, and CLIENT KILL
// sets kill_requested on clients of other loops).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dynis {

class ClientState {
 public:
  explicit ClientState(uint64_t id) : id_(id) {}
  virtual ~ClientState() = default;
  ClientState(const ClientState&) = delete;
  ClientState& operator=(const ClientState&) = delete;

  uint64_t id() const { return id_; }

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
  bool kill_requested = false;  // CLIENT KILL from another loop, applied by the client's own

  // Figures CLIENT LIST/INFO report. Virtual rather than fields the server keeps updated: they
  // are sizes of the server's own buffers, read rarely, and keeping copies current would cost
  // a store on every read and write of every connection.
  virtual size_t query_buffer_bytes() const = 0;
  virtual size_t output_bytes() const = 0;
  virtual size_t pending_replies() const = 0;

 private:
  uint64_t id_;
};

}  // namespace dynis
