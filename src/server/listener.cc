// Listening sockets and accepting connections: each worker listens on the same port(s) with
// SO_REUSEPORT and accepts onto its own loop (listener.h).
#include "server/listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/errors.h"
#include "common/log.h"
#include "server/server.h"

namespace dynis::server {

namespace {

std::string SockAddrToString(const struct sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const struct sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const struct sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
    port = ntohs(a->sin6_port);
  }
  return std::string(ip) + ":" + std::to_string(port);
}

bool IsLoopback(const struct sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const struct sockaddr_in*>(&ss);
    return (ntohl(a->sin_addr.s_addr) >> 24) == 127;
  }
  if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const struct sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_LOOPBACK(&a->sin6_addr)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) return a->sin6_addr.s6_addr[12] == 127;
  }
  return false;
}

// addr:port as a socket address (IPv6 when addr has a colon); false and *err when addr is not
// an IP address.
bool ToSockAddr(const std::string& addr, int port, bool v6, struct sockaddr_storage* ss,
                socklen_t* len, std::string* err) {
  std::memset(ss, 0, sizeof(*ss));
  if (v6) {
    auto* a = reinterpret_cast<struct sockaddr_in6*>(ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, addr.c_str(), &a->sin6_addr) != 1) {
      *err = "invalid bind address '" + addr + "'";
      return false;
    }
    *len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<struct sockaddr_in*>(ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, addr.c_str(), &a->sin_addr) != 1) {
      *err = "invalid bind address '" + addr + "'";
      return false;
    }
    *len = sizeof(*a);
  }
  return true;
}

}  // namespace

// Opens a listening socket with SO_REUSEPORT so that every worker can accept on the same port.
// `exclusive_probe` first binds without SO_REUSEPORT to refuse a port another process holds.
int OpenListener(const std::string& addr, int port, int backlog, bool exclusive_probe,
                 std::string* err) {
  bool v6 = addr.find(':') != std::string::npos;
  struct sockaddr_storage ss;
  socklen_t len;
  if (!ToSockAddr(addr, port, v6, &ss, &len, err)) return -1;
  int one = 1;
  if (exclusive_probe) {
    int probe = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) {
      *err = std::strerror(errno);
      return -1;
    }
    setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (v6) setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    int rc = bind(probe, reinterpret_cast<struct sockaddr*>(&ss), len);
    int e = errno;
    close(probe);
    if (rc != 0) {
      *err = std::strerror(e);
      errno = e;
      return -1;
    }
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *err = std::strerror(errno);
    return -1;
  }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (v6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&ss), len) != 0 || listen(fd, backlog) != 0) {
    int e = errno;
    *err = std::strerror(e);
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

Status Worker::Listen() { return ListenOn(server_->config().port(), "server", &listeners_); }

Status Worker::ListenOn(int port, const char* what, std::vector<uv_tcp_t*>* out) {
  const Config& cfg = server_->config();
  std::string bind_list;
  size_t before = out->size();
  for (std::string addr : cfg.bind()) {
    bind_list += (bind_list.empty() ? "" : " ") + addr;
    bool optional = addr[0] == '-';
    if (optional) addr = addr.substr(1);
    if (addr == "*") addr = "0.0.0.0";
    std::string err;
    int fd = OpenListener(addr, port, cfg.tcp_backlog(), id_ == 0, &err);
    if (fd < 0) {
      if (optional &&
          (errno == EADDRNOTAVAIL || errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT)) {
        continue;
      }
      return Status::IOError(std::string("Could not create ") + what + " TCP listening socket " +
                             addr + ":" + std::to_string(port) + ": " + err);
    }
    auto* tcp = new uv_tcp_t;
    uv_tcp_init(&loop_, tcp);
    tcp->data = this;
    int rc = uv_tcp_open(tcp, fd);
    if (rc == 0)
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), cfg.tcp_backlog(), &Worker::OnConnection);
    if (rc != 0) {
      delete tcp;
      close(fd);
      return Status::IOError(std::string("listen failed: ") + uv_strerror(rc));
    }
    out->push_back(tcp);
  }
  if (out->size() == before) {
    return Status::IOError("no address to listen on (bind " + bind_list + ")");
  }
  return Status::OK();
}

void Worker::OnConnection(uv_stream_t* listener, int status) {
  auto* w = static_cast<Worker*>(listener->data);
  if (status < 0) {
    LOG_WARNING("Accepting client connection: %s", uv_strerror(status));
    return;
  }
  w->Accept(listener);
}

void Worker::Accept(uv_stream_t* listener) {
  auto* c = new Client(this, server_->NextClientId());
  uv_tcp_init(&loop_, &c->tcp_);
  c->tcp_.data = c;
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp_)) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp_), &Worker::OnClose);
    return;
  }
  Stats& st = server_->stats();
  st.connections_received++;
  const Config& cfg = server_->config();
  uv_tcp_nodelay(&c->tcp_, 1);
  if (cfg.tcp_keepalive() > 0) uv_tcp_keepalive(&c->tcp_, 1, cfg.tcp_keepalive());
  struct sockaddr_storage peer, local;
  int len = sizeof(peer);
  std::memset(&peer, 0, sizeof(peer));
  std::memset(&local, 0, sizeof(local));
  uv_tcp_getpeername(&c->tcp_, reinterpret_cast<struct sockaddr*>(&peer), &len);
  len = sizeof(local);
  uv_tcp_getsockname(&c->tcp_, reinterpret_cast<struct sockaddr*>(&local), &len);
  c->addr = SockAddrToString(peer);
  c->laddr = SockAddrToString(local);
  uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp_), &c->fd);
  c->authenticated = cfg.requirepass().empty();
  c->peer_port = std::find(peer_listeners_.begin(), peer_listeners_.end(),
                           reinterpret_cast<uv_tcp_t*>(listener)) != peer_listeners_.end();
  clients_[c->id()] = c;
  int connected = ++server_->connected_clients();

  // Redis answers these two refusals with an error and closes.
  const char* refusal = nullptr;
  if (connected > cfg.maxclients()) {
    refusal = err::kMaxClients;
    st.rejected_connections++;
  } else if (!c->peer_port && cfg.protected_mode() && cfg.requirepass().empty() &&
             !IsLoopback(peer)) {
    refusal = err::kProtectedMode;
    LOG_WARNING("Denied connection from %s: protected mode", c->addr.c_str());
  }
  if (refusal != nullptr) {
    c->out_.append("-").append(refusal).append("\r\n");
    c->close_after_reply = true;
    MarkDirty(c);
    return;
  }
  LOG_VERBOSE("Accepted %s", c->addr.c_str());
  c->reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp_), &Worker::OnAlloc, &Worker::OnRead);
}

}  // namespace dynis::server
