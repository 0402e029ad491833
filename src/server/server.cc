#include "server/server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>
#include <sstream>

#include "commands/util.h"
#include "common/errors.h"
#include "common/hash.h"
#include "common/log.h"
#include "kv/epoch.h"
#include "server/node_context.h"

namespace dynis::server {

namespace {

// Most forwarded commands one connection may have in flight before it stops reading.
constexpr size_t kMaxInflight = 1024;

const char kProtectedModeError[] =
    "-DENIED dynis is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from the "
    "loopback interface. If you want to connect from external computers to dynis you may adopt "
    "one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG "
    "SET protected-mode no' from the loopback interface by connecting to dynis from the same "
    "host the server is running, however MAKE SURE dynis is not publicly accessible from "
    "internet if you do so. 2) Alternatively you can just disable the protected mode by editing "
    "the dynis configuration file, and setting the protected mode option to 'no', and then "
    "restarting the server. 3) If you started the server manually just for testing, restart it "
    "with the '--protected-mode no' option. 4) Set up an authentication password for the "
    "default user. NOTE: You only need to do one of the above things in order for the server to "
    "start accepting connections from the outside.\r\n";

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

std::string RandomHex(size_t n) {
  std::random_device rd;
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) s.push_back(kHex[rd() & 15]);
  return s;
}

}  // namespace

// Opens a listening socket with SO_REUSEPORT so that every worker can accept on the same port.
// `exclusive_probe` first binds without SO_REUSEPORT to refuse a port another process holds.
int OpenListener(const std::string& addr, int port, int backlog, bool exclusive_probe,
                 std::string* err) {
  bool v6 = addr.find(':') != std::string::npos;
  struct sockaddr_storage ss;
  std::memset(&ss, 0, sizeof(ss));
  socklen_t len;
  if (v6) {
    auto* a = reinterpret_cast<struct sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, addr.c_str(), &a->sin6_addr) != 1) {
      *err = "invalid bind address '" + addr + "'";
      return -1;
    }
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<struct sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, addr.c_str(), &a->sin_addr) != 1) {
      *err = "invalid bind address '" + addr + "'";
      return -1;
    }
    len = sizeof(*a);
  }
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

// ---------------------------------------------------------------------------------------------
// Client

Client::Client(Worker* w, uint64_t id) : ClientState(id), worker_(w) {
  proto::ParserLimits limits;
  limits.proto_max_bulk_len = w->server().config().proto_max_bulk_len();
  limits.query_buffer_limit = w->server().config().client_query_buffer_limit();
  parser_.set_limits(limits);
  created_ms = last_interaction_ms = NowMs();
}

void Stats::Reset() {
  for (auto* a : {&connections_received, &commands_processed, &rejected_connections, &keyspace_hits,
                  &keyspace_misses, &net_input_bytes, &net_output_bytes, &forwarded_commands,
                  &barriers, &write_batches, &protocol_errors, &output_limit_disconnections}) {
    a->store(0);
  }
}

// ---------------------------------------------------------------------------------------------
// Worker

Worker::Worker(Server* server, int id)
    : server_(server), id_(id), keyspace_(&server->keyspace_shared(), static_cast<uint32_t>(id)) {
  uv_loop_init(&loop_);
  loop_.data = this;
  uv_async_init(&loop_, &async_, &Worker::OnAsync);
  async_.data = this;
  uv_prepare_init(&loop_, &prepare_);
  prepare_.data = this;
  uv_timer_init(&loop_, &cron_);
  cron_.data = this;
}

Worker::~Worker() {
  uv_loop_close(&loop_);
  for (auto* l : listeners_) delete l;
  for (auto* l : peer_listeners_) delete l;
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

void Worker::Start() {
  uv_prepare_start(&prepare_, &Worker::OnPrepare);
  uv_timer_start(&cron_, &Worker::OnCron, 100, 100);
  outbox_.resize(server_->worker_count());
  thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::Wake() { uv_async_send(&async_); }

void Worker::Post(Message msg) {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    inbox_.push_back(std::move(msg));
  }
  Wake();
}

void Worker::PostBatch(std::vector<Message>* msgs) {
  if (msgs->empty()) return;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    if (inbox_.empty()) {
      inbox_.swap(*msgs);
    } else {
      for (auto& m : *msgs) inbox_.push_back(std::move(m));
    }
  }
  msgs->clear();
  Wake();
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
    refusal = "-ERR max number of clients reached\r\n";
    st.rejected_connections++;
  } else if (!c->peer_port && cfg.protected_mode() && cfg.requirepass().empty() &&
             !IsLoopback(peer)) {
    refusal = kProtectedModeError;
    LOG_WARNING("Denied connection from %s: protected mode", c->addr.c_str());
  }
  if (refusal != nullptr) {
    c->out_.append(refusal);
    c->close_after_reply = true;
    MarkDirty(c);
    return;
  }
  LOG_VERBOSE("Accepted %s", c->addr.c_str());
  c->reading_ = true;
  uv_read_start(reinterpret_cast<uv_stream_t*>(&c->tcp_), &Worker::OnAlloc, &Worker::OnRead);
}

void Worker::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Client*>(h->data);
  Worker* w = c->worker_;
  *buf = uv_buf_init(w->read_buf_, sizeof(w->read_buf_));
}

void Worker::OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Client*>(s->data);
  Worker* w = c->worker_;
  if (nread < 0) {
    w->CloseClient(c);
    return;
  }
  if (nread == 0) return;
  w->server_->stats().net_input_bytes.fetch_add(nread, std::memory_order_relaxed);
  c->last_interaction_ms = NowMs();
  if (c->closing_ || c->close_after_reply) return;  // nothing after QUIT or an error runs
  c->in_.append(buf->base, nread);
  w->ProcessInput(c);
}

void Worker::ProcessInput(Client* c) {
  const Config& cfg = server_->config();
  proto::ParserLimits limits;
  limits.proto_max_bulk_len = cfg.proto_max_bulk_len();
  limits.query_buffer_limit = cfg.client_query_buffer_limit();
  c->parser_.set_limits(limits);
  size_t pos = 0;
  while (!c->closing_ && !c->close_after_reply && !c->parked_) {
    if (c->slots_.size() >= kMaxInflight) {
      c->parked_ = true;
      break;
    }
    size_t consumed = 0;
    bool auth_ok = c->authenticated;
    proto::ParseState st =
        c->parser_.Parse(c->in_.data() + pos, c->in_.size() - pos, &consumed, auth_ok);
    pos += consumed;
    if (st == proto::ParseState::kNeedMore) break;
    if (st == proto::ParseState::kCommand) {
      if (!Dispatch(c, c->parser_.argv())) break;
      continue;
    }
    if (st == proto::ParseState::kProtocolError) {
      server_->stats().protocol_errors++;
      LOG_VERBOSE("Protocol error (%s) from client: id=%llu addr=%s", c->parser_.error().c_str(),
                  static_cast<unsigned long long>(c->id()), c->addr.c_str());
      std::string err = "-ERR " + c->parser_.error() + "\r\n";
      AppendReply(c, err);
      c->close_after_reply = true;
      break;
    }
    // kQueryBufferLimit: Redis closes without a reply.
    LOG_WARNING("Closing client that reached max query buffer length: id=%llu addr=%s",
                static_cast<unsigned long long>(c->id()), c->addr.c_str());
    CloseClient(c);
    return;
  }
  c->in_.erase(0, pos);
  bool want_read = !c->parked_ && !c->closing_ && !c->close_after_reply;
  if (want_read != c->reading_ && !c->closing_) {
    auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp_);
    if (want_read) {
      uv_read_start(stream, &Worker::OnAlloc, &Worker::OnRead);
    } else {
      uv_read_stop(stream);
    }
    c->reading_ = want_read;
  }
}

void Worker::AppendReply(Client* c, std::string_view bytes) {
  if (c->slots_.empty()) {
    c->out_.append(bytes.data(), bytes.size());
  } else {
    auto slot = std::make_shared<Slot>();
    slot->ready = true;
    slot->data.assign(bytes.data(), bytes.size());
    c->slots_.push_back(std::move(slot));
  }
  MarkDirty(c);
}

bool Worker::Dispatch(Client* c, std::vector<std::string>& argv) {
  const Config& cfg = server_->config();
  auto reply_error = [&](const std::string& msg) {
    std::string out;
    proto::ReplyWriter w(&out);
    w.Error(msg);
    AppendReply(c, out);
    if (c->in_multi) c->multi_error = true;
  };

  // A browser or an HTTP proxy talking to us: Redis closes at once (cross-protocol scripting).
  if (EqualsIgnoreCase(argv[0], "post") || EqualsIgnoreCase(argv[0], "host:")) {
    LOG_WARNING(
        "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: "
        "commands to dynis. Connection from %s aborted.",
        c->addr.c_str());
    CloseClient(c);
    return false;
  }

  // A node on the cluster port proves the cluster secret before anything else is served.
  if (c->peer_port && !c->peer_authenticated && !EqualsIgnoreCase(argv[0], "dynis.hello") &&
      !EqualsIgnoreCase(argv[0], "dynis.auth")) {
    AppendReply(c,
                "-NOAUTH this is the cluster port: peers authenticate with the cluster secret "
                "(DYNIS.HELLO, DYNIS.AUTH); clients use the client port\r\n");
    c->close_after_reply = true;
    return false;
  }
  // A peer forwarding a client's command to a replica of its key: it runs here as if a client
  // of this node sent it, with the client's protocol version, and is coordinated here.
  bool forwarded = false;
  if (c->peer_port && argv.size() >= 3 && EqualsIgnoreCase(argv[0], "dynis.fwd")) {
    c->resp = argv[1] == "3" ? 3 : 2;
    argv.erase(argv.begin(), argv.begin() + 2);
    forwarded = true;
  }

  const CommandSpec* spec = c->peer_port ? LookupCommand(argv[0]) : LookupClientCommand(argv[0]);
  if (spec == nullptr) {
    std::string msg =
        "ERR unknown command '" + argv[0].substr(0, 128) + "', with args beginning with: ";
    for (size_t i = 1; i < argv.size() && msg.size() < 128; i++) {
      msg += "'" + argv[i].substr(0, 128 - std::min<size_t>(128, msg.size())) + "' ";
    }
    reply_error(msg);
    return true;
  }
  if (!spec->subcommands.empty() && argv.size() >= 2) {
    const CommandSpec* sub = LookupSubcommand(*spec, argv[1]);
    if (sub == nullptr) {
      std::string upper(spec->name);
      for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      reply_error("ERR unknown subcommand '" + argv[1].substr(0, 128) + "'. Try " + upper +
                  " HELP.");
      return true;
    }
    spec = sub;
  }
  int argc = static_cast<int>(argv.size());
  if ((spec->arity > 0 && argc != spec->arity) || argc < -spec->arity) {
    reply_error(std::string("ERR wrong number of arguments for '") + spec->name + "' command");
    return true;
  }
  if (spec->key_step > 1 && (argc - spec->first_key) % spec->key_step != 0) {
    // MSET a 1 b: Redis checks the pairs in the handler with the arity error's text.
    reply_error(std::string("ERR wrong number of arguments for '") + spec->name + "' command");
    return true;
  }
  if (!c->authenticated && !(spec->flags & kCmdNoAuth)) {
    if (cfg.requirepass().empty()) {
      c->authenticated = true;  // the password was removed by CONFIG SET
    } else {
      reply_error(err::kNoAuth);
      return true;
    }
  }
  if (c->in_multi && (spec->flags & kCmdNoMulti)) {
    reply_error(err::kNoMulti);  // and the transaction is marked: EXEC answers EXECABORT
    return true;
  }
  if (c->in_multi && !(spec->flags & kCmdNotQueued)) {
    c->multi_queue.push_back(argv);
    AppendReply(c, "+QUEUED\r\n");
    return true;
  }
  if (std::string_view(spec->name) == "quit") {
    AppendReply(c, "+OK\r\n");
    c->close_after_reply = true;
    return false;
  }

  uint32_t flags = spec->flags;
  if (server_->cluster() != nullptr && !(flags & kCmdInternal)) {
    if (std::string_view(spec->name) == "exec") return ClusterExec(c);
    if (spec->first_key > 0 && !(flags & (kCmdConn | kCmdAllKeys))) {
      return ClusterDispatch(c, spec, argv, forwarded);
    }
  }
  bool exclusive = (flags & kCmdExclusive) != 0;
  std::vector<int> owners;
  if (!(flags & (kCmdConn | kCmdAllKeys | kCmdExclusive))) {
    std::vector<int> keys = CommandKeyPositions(*spec, argv);
    bool remote = false;
    bool mixed = false;
    for (int k : keys) {
      int o = server_->OwnerOf(keyspace_.PartitionOf(argv[k]));
      owners.push_back(o);
      if (o != id_) remote = true;
      if (o != owners[0]) mixed = true;
    }
    // A read needs no ownership: with none of this connection's commands in flight it can
    // read the store right here (it sees every acknowledged write) and skip two thread hops.
    // A peer's DYNIS.GETREC may do so even behind its own earlier requests: the coordinator
    // merges what it reads, so it never relies on one request seeing another's effect.
    if (remote && (flags & kCmdReadOnly) && (c->slots_.empty() || (flags & kCmdInternal))) {
      remote = false;
    }
    if (remote) {
      if (!mixed || (flags & (kCmdSplitSum | kCmdSplitArray | kCmdSplitOk))) {
        Forward(c, spec, argv, owners, !mixed);
        return true;
      }
      exclusive = true;  // e.g. RENAME across two workers' partitions
    }
  }
  if (exclusive || (flags & kCmdAllKeys)) {
    // Needs every earlier command of this connection done first.
    if (!c->slots_.empty()) {
      c->parked_ = true;
      c->has_parked_argv_ = true;
      c->parked_argv_ = argv;
      return false;
    }
    std::string out;
    if (exclusive && server_->worker_count() > 1) {
      if (!server_->PauseOthers(*this)) {
        AppendReply(c, "-ERR the server is shutting down\r\n");
        return true;
      }
      CommitTurn();
      ExecuteLocal(c, spec, argv, &out);
      CommitTurn();
      server_->ResumeOthers();
    } else {
      CommitTurn();
      ExecuteLocal(c, spec, argv, &out);
    }
    AppendReply(c, out);
    return !c->close_after_reply;
  }
  if (c->slots_.empty()) {
    ExecuteLocal(c, spec, argv, &c->out_);
    MarkDirty(c);
  } else {
    std::string out;
    ExecuteLocal(c, spec, argv, &out);
    AppendReply(c, out);
  }
  return !c->close_after_reply && !c->closing_;
}

void Worker::ExecuteLocal(Client* c, const CommandSpec* spec, const std::vector<std::string>& argv,
                          std::string* out) {
  proto::ReplyWriter w(out);
  w.set_resp(c != nullptr ? c->resp : 2);
  ExecuteSpec(c, spec, argv, &w);
}

void Worker::ExecuteSpec(Client* c, const CommandSpec* spec, const std::vector<std::string>& argv,
                         proto::ReplyWriter* w) {
  server_->stats().commands_processed.fetch_add(1, std::memory_order_relaxed);
  if ((spec->flags & kCmdWrite) && server_->store().write_failed()) {
    w->Error(std::string(err::kIoError) + " " + server_->store().write_error() +
             "; the node refuses writes until restarted");
    return;
  }
  if (c != nullptr) {
    c->last_command = spec->name;
    if ((spec->flags & kCmdWrite) && !c->wrote_this_turn_) {
      c->wrote_this_turn_ = true;
      wrote_.push_back(c);
    }
  }
  WorkerNodeContext node(*server_, *this);
  CommandContext ctx{argv, *w, keyspace_, node, c, spec};
  spec->handler(ctx);
}

void Worker::Forward(Client* c, const CommandSpec* spec, std::vector<std::string>& argv,
                     const std::vector<int>& owners, bool one_owner) {
  server_->stats().forwarded_commands.fetch_add(1, std::memory_order_relaxed);
  auto slot = std::make_shared<Slot>();
  auto send = [&](int owner, size_t part, std::vector<std::string> part_argv) {
    slot->remaining++;
    Message m;
    m.kind = Message::Kind::kExec;
    m.origin = id_;
    m.client_id = c->id();
    m.slot = slot;
    m.part = static_cast<int>(part);
    m.spec = spec;
    m.resp = c->resp;
    m.argv = std::move(part_argv);
    outbox_[owner].push_back(std::move(m));
  };
  if (one_owner) {
    slot->parts.resize(1);
    send(owners[0], 0, std::move(argv));
  } else {
    // One part per key (per key/value pair for MSET); parts this worker owns run now.
    slot->combine = spec->flags & (kCmdSplitSum | kCmdSplitArray | kCmdSplitOk);
    slot->parts.resize(owners.size());
    for (size_t i = 0; i < owners.size(); i++) {
      std::vector<std::string> sub = CommandKeyPart(*spec, argv, i);
      if (owners[i] == id_) {
        proto::ReplyWriter w(&slot->parts[i]);
        w.set_resp(c->resp);
        ExecuteSpec(c, spec, sub, &w);
      } else {
        send(owners[i], i, std::move(sub));
      }
    }
  }
  c->slots_.push_back(std::move(slot));
}

// Joins the per-key replies of a split multi-key command into the reply the client expects.
void CombineParts(Slot* slot) {
  if (slot->combine == Slot::kCombineExec) {
    slot->data = "*" + std::to_string(slot->parts.size()) + "\r\n";
    for (const auto& p : slot->parts) slot->data += p;
    return;
  }
  for (const auto& p : slot->parts) {
    if (!p.empty() && p[0] == '-') {
      slot->data = p;
      return;
    }
  }
  if (slot->combine == kCmdSplitSum) {
    long long sum = 0;
    for (const auto& p : slot->parts) sum += std::strtoll(p.c_str() + 1, nullptr, 10);
    slot->data = ":" + std::to_string(sum) + "\r\n";
  } else if (slot->combine == kCmdSplitArray) {
    slot->data = "*" + std::to_string(slot->parts.size()) + "\r\n";
    for (const auto& p : slot->parts) {
      size_t nl = p.find('\n');  // skip each part's "*1\r\n" header
      slot->data.append(p, nl + 1, std::string::npos);
    }
  } else if (slot->combine == kCmdSplitOk) {
    slot->data = "+OK\r\n";
  } else {
    slot->data = std::move(slot->parts[0]);
  }
}

void Worker::CompleteSlots(Client* c) {
  bool any = false;
  while (!c->slots_.empty() && c->slots_.front()->ready) {
    c->out_.append(c->slots_.front()->data);
    c->slots_.pop_front();
    any = true;
  }
  if (any) MarkDirty(c);
  if (c->parked_ &&
      (c->slots_.empty() || (!c->has_parked_argv_ && c->slots_.size() < kMaxInflight))) {
    c->parked_ = false;
    if (c->has_parked_argv_) {
      c->has_parked_argv_ = false;
      std::vector<std::string> argv = std::move(c->parked_argv_);
      if (!Dispatch(c, argv) && c->parked_) return;
    }
    ProcessInput(c);
  }
}

void Worker::HandleMessages() {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    inbox_work_.swap(inbox_);
  }
  for (Message& m : inbox_work_) {
    if (m.kind == Message::Kind::kExec && m.coordinate) {
      Coordinate(std::move(m));
    } else if (m.kind == Message::Kind::kExec) {
      proto::ReplyWriter w(&m.slot->parts[m.part]);
      w.set_resp(m.resp);
      ExecuteSpec(nullptr, m.spec, m.argv, &w);
      Message done;
      done.kind = Message::Kind::kDone;
      done.origin = m.origin;
      done.client_id = m.client_id;
      done.slot = std::move(m.slot);
      done.part = m.part;
      done.spec = m.spec;
      done_after_commit_.push_back(std::move(done));
    } else if (m.kind == Message::Kind::kDone) {
      PartDone(m.client_id, m.slot);
    }
  }
  inbox_work_.clear();
}

void Worker::CommitTurn() {
  // Taken first: closing a client below removes it from wrote_.
  std::vector<Client*> wrote;
  wrote.swap(wrote_);
  for (Client* c : wrote) c->wrote_this_turn_ = false;
  // Coordinated puts count their local copy only once this batch is committed; they learn how
  // it went in ReportLocalStores (not here: completing them may run more commands).
  if (!keyspace_.HasPending()) {
    // Nothing pending: their copies were in batches already committed.
    if (coordinator_) coordinator_->OnLocalCommit(Status::OK());
    return;
  }
  // The node holds data from now on: no node met later may take partitions (cluster.h).
  if (server_->cluster() != nullptr) server_->cluster()->SealBeforeData();
  server_->stats().write_batches.fetch_add(1, std::memory_order_relaxed);
  Status s = keyspace_.Commit();
  if (coordinator_) coordinator_->OnLocalCommit(s);
  if (s.ok()) return;
  // None of this turn's writes may be acknowledged: their connections are closed unanswered
  // and forwarded writes answer with the error.
  LOG_WARNING("Write batch failed, refusing writes: %s", s.message().c_str());
  for (Client* c : wrote) {
    c->out_.clear();
    c->slots_.clear();
    CloseClient(c);
  }
  std::string err = std::string("-") + err::kIoError + " " + s.message() + "\r\n";
  for (Message& m : done_after_commit_) {
    if (m.spec->flags & kCmdWrite) m.slot->parts[m.part] = err;
  }
}

void Worker::OnAsync(uv_async_t* a) {
  auto* w = static_cast<Worker*>(a->data);
  w->ServicePause();
  if (w->server_->shutdown_.load() && !w->stopping_) {
    w->Shutdown();
    return;
  }
  w->HandleMessages();
}

void Worker::OnPrepare(uv_prepare_t* p) {
  auto* w = static_cast<Worker*>(p->data);
  w->CommitTurn();
  // Coordinated writes learn that their local copies are committed (or not). What that
  // completes may run more commands; their writes are committed too before any reply leaves.
  while (w->ReportLocalStores()) w->CommitTurn();
  // Replies to other workers' requests leave only now that their writes are stored.
  if (!w->done_after_commit_.empty()) {
    std::vector<std::vector<Message>> by_origin(w->server_->worker_count());
    for (Message& m : w->done_after_commit_) by_origin[m.origin].push_back(std::move(m));
    w->done_after_commit_.clear();
    for (int i = 0; i < w->server_->worker_count(); i++) {
      w->server_->worker(i).PostBatch(&by_origin[i]);
    }
  }
  for (int i = 0; i < static_cast<int>(w->outbox_.size()); i++) {
    if (!w->outbox_[i].empty()) w->server_->worker(i).PostBatch(&w->outbox_[i]);
  }
  std::vector<Client*> dirty;
  dirty.swap(w->dirty_);
  for (Client* c : dirty) {
    c->dirty_ = false;
    w->FlushClient(c);
  }
}

void Worker::MarkDirty(Client* c) {
  if (!c->dirty_) {
    c->dirty_ = true;
    dirty_.push_back(c);
  }
}

bool Worker::OverHardOutputLimit(Client* c) {
  int64_t hard = server_->config().output_limit_normal_hard();
  if (hard <= 0 || static_cast<int64_t>(c->output_bytes()) <= hard) return false;
  LOG_WARNING("Client id=%llu addr=%s closed for overcoming of output buffer limits.",
              static_cast<unsigned long long>(c->id()), c->addr.c_str());
  server_->stats().output_limit_disconnections++;
  CloseClient(c);
  return true;
}

void Worker::FlushClient(Client* c) {
  if (c->closing_) return;
  // Checked before anything else: a client that does not read keeps a write in flight while
  // its replies pile up behind it.
  if (OverHardOutputLimit(c)) return;
  if (!c->writing_.empty() || c->out_.empty()) {
    if (c->out_.empty() && c->writing_.empty() && c->close_after_reply && c->slots_.empty()) {
      CloseClient(c);
    }
    return;
  }
  auto* stream = reinterpret_cast<uv_stream_t*>(&c->tcp_);
  uv_buf_t buf = uv_buf_init(c->out_.data(), static_cast<unsigned>(c->out_.size()));
  int n = uv_try_write(stream, &buf, 1);
  if (n == UV_EAGAIN) n = 0;
  if (n < 0) {
    CloseClient(c);
    return;
  }
  server_->stats().net_output_bytes.fetch_add(n, std::memory_order_relaxed);
  if (static_cast<size_t>(n) == c->out_.size()) {
    c->out_.clear();
    if (c->close_after_reply && c->slots_.empty()) CloseClient(c);
    return;
  }
  c->writing_.assign(c->out_, n, std::string::npos);
  c->out_.clear();
  c->write_req_.data = c;
  uv_buf_t wbuf = uv_buf_init(c->writing_.data(), static_cast<unsigned>(c->writing_.size()));
  uv_write(&c->write_req_, stream, &wbuf, 1, &Worker::OnWrite);
}

void Worker::OnWrite(uv_write_t* req, int status) {
  auto* c = static_cast<Client*>(req->data);
  Worker* w = c->worker_;
  if (status == UV_ECANCELED) return;  // closing: OnClose frees the client
  w->server_->stats().net_output_bytes.fetch_add(c->writing_.size(), std::memory_order_relaxed);
  c->writing_.clear();
  if (status < 0) {
    w->CloseClient(c);
    return;
  }
  // Reply bytes are written only by the flush that follows the turn's commit (OnPrepare):
  // out_ may hold the reply of a write read in this same poll, whose batch is not committed
  // yet. That flush also closes after the last reply and applies the output limits.
  if (!c->out_.empty() || c->close_after_reply) w->MarkDirty(c);
}

void Worker::CloseClient(Client* c) {
  if (c->closing_) return;
  c->closing_ = true;
  clients_.erase(c->id());
  server_->connected_clients()--;
  dirty_.erase(std::remove(dirty_.begin(), dirty_.end(), c), dirty_.end());
  if (c->wrote_this_turn_) {
    wrote_.erase(std::remove(wrote_.begin(), wrote_.end(), c), wrote_.end());
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp_), &Worker::OnClose);
}

void Worker::OnClose(uv_handle_t* h) { delete static_cast<Client*>(h->data); }

void Worker::CheckOutputLimits(Client* c, int64_t now_ms) {
  if (OverHardOutputLimit(c)) return;
  const Config& cfg = server_->config();
  int64_t soft = cfg.output_limit_normal_soft();
  int64_t secs = cfg.output_limit_normal_soft_seconds();
  if (soft <= 0 || static_cast<int64_t>(c->output_bytes()) <= soft) {
    c->soft_limit_since_ms_ = 0;
    return;
  }
  if (c->soft_limit_since_ms_ == 0) {
    c->soft_limit_since_ms_ = now_ms;
  } else if (now_ms - c->soft_limit_since_ms_ >= secs * 1000) {
    LOG_WARNING("Client id=%llu addr=%s closed for overcoming of output buffer limits.",
                static_cast<unsigned long long>(c->id()), c->addr.c_str());
    server_->stats().output_limit_disconnections++;
    CloseClient(c);
  }
}

void Worker::OnCron(uv_timer_t* t) {
  auto* w = static_cast<Worker*>(t->data);
  const Config& cfg = w->server_->config();
  int64_t now = NowMs();
  int64_t timeout_ms = static_cast<int64_t>(cfg.timeout_s()) * 1000;
  // Closing a client removes it from clients_, so walk a copy.
  std::vector<Client*> clients;
  clients.reserve(w->clients_.size());
  for (auto& [id, c] : w->clients_) clients.push_back(c);
  if (w->server_->cluster() != nullptr && !w->stopping_) w->ClusterCron(now);
  for (Client* c : clients) {
    if (c->kill_requested) {
      w->CloseClient(c);
    } else if (timeout_ms > 0 && !c->peer_port && c->slots_.empty() && c->writing_.empty() &&
               now - c->last_interaction_ms > timeout_ms) {
      LOG_VERBOSE("Closing idle client id=%llu", static_cast<unsigned long long>(c->id()));
      w->CloseClient(c);
    } else {
      w->CheckOutputLimits(c, now);
    }
  }
}

void Worker::ServicePause() {
  Server& s = *server_;
  if (!s.pause_requested_.load(std::memory_order_acquire)) return;
  std::unique_lock<std::mutex> lock(s.pause_mu_);
  if (!s.pause_requested_ || s.pause_owner_ == id_) return;
  uint64_t gen = s.pause_gen_;
  lock.unlock();
  CommitTurn();  // our writes become visible to the worker that paused us
  lock.lock();
  if (s.pause_gen_ != gen || !s.pause_requested_) return;
  s.paused_++;
  s.pause_cv_.notify_all();
  s.pause_cv_.wait(lock, [&] { return s.pause_gen_ != gen || !s.pause_requested_; });
  lock.unlock();
  // CLIENT KILL may have marked our clients while we waited.
  std::vector<Client*> killed;
  for (auto& [id, c] : clients_) {
    if (c->kill_requested) killed.push_back(c);
  }
  for (Client* c : killed) CloseClient(c);
}

void Worker::Shutdown() {
  stopping_ = true;
  for (auto* l : listeners_) uv_close(reinterpret_cast<uv_handle_t*>(l), nullptr);
  for (auto* l : peer_listeners_) uv_close(reinterpret_cast<uv_handle_t*>(l), nullptr);
  CloseLinks();
  HandleMessages();
  CommitTurn();
  std::vector<Client*> all;
  for (auto& [id, c] : clients_) all.push_back(c);
  for (Client* c : all) {
    // Best effort: what is already computed goes out before the socket closes.
    if (!c->out_.empty() && c->writing_.empty()) {
      uv_buf_t buf = uv_buf_init(c->out_.data(), static_cast<unsigned>(c->out_.size()));
      uv_try_write(reinterpret_cast<uv_stream_t*>(&c->tcp_), &buf, 1);
    }
    CloseClient(c);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&cron_), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Server

Server::Server(Config* config) : config_(config) {}

Server::~Server() = default;

Status Server::Init() {
  start_ms_ = NowMs();
  last_save_s_ = start_ms_ / 1000;
  run_id_ = RandomHex(40);
  const Config& cfg = *config_;

  std::string dir = cfg.dir();
  // mkdir -p
  for (size_t i = 1; i <= dir.size(); i++) {
    if (i == dir.size() || dir[i] == '/') {
      std::string part = dir.substr(0, i);
      if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
        return Status::IOError("Can't create data directory '" + dir +
                               "': " + std::strerror(errno));
      }
    }
  }

  storage::StoreOptions so;
  so.dir = dir;
  so.block_cache_bytes = cfg.block_cache_size();
  so.write_buffer_bytes = cfg.write_buffer_size();
  so.fsync = static_cast<storage::Fsync>(static_cast<int>(cfg.fsync()));
  const Config* cp = config_;
  // In a cluster compaction drops nothing another replica may still need (kv/keyspace.h).
  const bool keep_clocks = !cfg.cluster_nodes().empty();
  ks_shared_.keep_clocks = keep_clocks;
  so.compact = [cp, keep_clocks](std::string_view v, std::string* rewrite) {
    return kv::Keyspace::Compact(v, NowMs(), static_cast<int64_t>(cp->tombstone_grace_s()) * 1000,
                                 keep_clocks, rewrite);
  };
  auto store = storage::Store::Open(so);
  if (!store.ok()) return store.status();
  store_ = std::move(store).value();

  // Node identity. A data dir remembers its node id; the actor epoch is kept across a clean
  // shutdown and renewed otherwise (kv/epoch.h), so this run never mints a dot it or an
  // earlier run may have minted before.
  std::string stored_id;
  Status s = store_->GetMeta("node-id", &stored_id);
  if (s.ok()) {
    if (!cfg.node_id().empty() && cfg.node_id() != stored_id) {
      return Status::Error("data directory " + dir + " belongs to node " + stored_id +
                           ", not to node-id " + cfg.node_id());
    }
    node_id_ = stored_id;
  } else if (s.IsNotFound()) {
    node_id_ = cfg.node_id().empty() ? RandomHex(40) : cfg.node_id();
  } else {
    return s;
  }
  auto start = kv::StartEpoch(store_.get(), static_cast<uint64_t>(NowUs()));
  if (!start.ok()) {
    const Status& e = start.status();
    return e.code() == Status::Code::kCorruption ? Status::Corruption(e.message() + " in " + dir)
                                                 : e;
  }
  epoch_ = start->epoch;
  if (s.IsNotFound()) {
    RETURN_IF_ERROR(store_->PutMetaDurably("node-id", node_id_));
    LOG_NOTICE("New data directory: node %s leased epoch %llu", node_id_.c_str(),
               static_cast<unsigned long long>(epoch_));
  } else if (start->renewed) {
    LOG_NOTICE("The last run of node %s did not shut down cleanly: leased epoch %llu",
               node_id_.c_str(), static_cast<unsigned long long>(epoch_));
  }

  // CONFIG GET node-id shows the id in use, generated or not.
  RETURN_IF_ERROR(config_->ApplyDirective("node-id", {node_id_}));

  ks_shared_.store = store_.get();
  ks_shared_.clock = &clock_;
  ks_shared_.actor = version::Actor{KeyHash(node_id_), epoch_};
  ks_shared_.partitions = static_cast<uint32_t>(cfg.partitions());
  ApplyConfig();
  // CONFIG SET of an option that lower layers cache re-applies them.
  for (const char* name : {"loglevel", "fsync", "max-object-size", "sibling-warn", "sibling-max"}) {
    RETURN_IF_ERROR(config_->OnChange(name, [this] { ApplyConfig(); }));
  }

  int n = cfg.io_threads();
  if (n <= 0) n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ks_shared_.workers = static_cast<uint32_t>(n);
  for (int i = 0; i < n; i++) workers_.push_back(std::make_unique<Worker>(this, i));
  for (auto& w : workers_) RETURN_IF_ERROR(w->Listen());

  std::vector<std::string> seeds = cfg.cluster_nodes();
  if (!seeds.empty()) {
    Member self;
    self.name = node_id_;
    self.id = KeyHash(node_id_);
    self.host = cfg.cluster_announce_ip();
    self.cport = cfg.cluster_port();
    self.port = cfg.port();
    cluster_ = std::make_unique<ClusterState>(self, std::move(seeds),
                                              static_cast<uint32_t>(cfg.partitions()),
                                              static_cast<uint32_t>(cfg.replicas()), NowMs());
    // Members met before are remembered, so a restarted node has its ring at once.
    std::string stored;
    Status ms = store_->GetMeta("members", &stored);
    if (ms.ok()) {
      cluster_->Restore(cluster::DecodeMembership(stored));
    } else if (!ms.IsNotFound()) {
      return ms;
    }
    storage::Store* store = store_.get();
    cluster_->set_on_change([store](const cluster::Membership& members) {
      Status s = store->PutMetaDurably("members", cluster::EncodeMembership(members));
      if (!s.ok()) LOG_WARNING("Could not store the member list: %s", s.message().c_str());
    });
    // Data stored while the membership was open (a data dir from before memberships were
    // sealed, or a seal that could not be stored): seal now, with the members remembered.
    if (!cluster_->sealed()) {
      bool has_data = false;
      RETURN_IF_ERROR(store_->Scan("", [&](std::string_view, std::string_view) {
        has_data = true;
        return false;
      }));
      if (has_data) cluster_->SealBeforeData();
    }
    for (auto& w : workers_) RETURN_IF_ERROR(w->ListenPeers());
    LOG_NOTICE("Cluster '%s': this node at %s:%d (cluster port), N=%d R=%d W=%d, %zu seeds",
               cfg.cluster_name().c_str(), self.host.c_str(), self.cport, cfg.replicas(),
               cfg.read_quorum(), cfg.write_quorum(), cfg.cluster_nodes().size());
  }
  return Status::OK();
}

Status Server::FlushAll() {
  ASSIGN_OR_RETURN(uint64_t next,
                   kv::FlushAll(store_.get(), epoch_, static_cast<uint64_t>(NowUs())));
  epoch_ = next;
  ks_shared_.actor.epoch = next;
  LOG_NOTICE("FLUSHALL: every record deleted, node %s now mints under epoch %llu",
             node_id_.c_str(), static_cast<unsigned long long>(next));
  return Status::OK();
}

void Server::ApplyConfig() {
  const Config& cfg = *config_;
  ks_shared_.max_object_size = cfg.max_object_size();
  ks_shared_.sibling_warn = static_cast<uint32_t>(cfg.sibling_warn());
  ks_shared_.sibling_max = static_cast<uint32_t>(cfg.sibling_max());
  LogSetLevel(static_cast<int>(cfg.loglevel()));
  if (store_) store_->set_fsync(static_cast<storage::Fsync>(static_cast<int>(cfg.fsync())));
}

void Server::WalSyncLoop() {
  std::unique_lock<std::mutex> lock(wal_mu_);
  while (!shutdown_.load()) {
    wal_cv_.wait_for(lock, std::chrono::seconds(1));
    if (config_->fsync() == FsyncPolicy::kEverySec) {
      Status s = store_->SyncWal();
      if (!s.ok()) LOG_WARNING("fsync of the write-ahead log failed: %s", s.message().c_str());
      last_save_s_ = NowMs() / 1000;
    }
  }
}

void Server::Run() {
  for (auto& w : workers_) w->Start();
  wal_thread_ = std::thread([this] { WalSyncLoop(); });
  LOG_NOTICE("Server initialized: %d io-threads, %u partitions, node %s epoch %llu", worker_count(),
             ks_shared_.partitions, node_id_.c_str(), static_cast<unsigned long long>(epoch_));
  LOG_NOTICE("Ready to accept connections tcp");

  // Signals are blocked in every thread (main() does it before any starts) and taken here.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  struct timespec ts = {0, 100 * 1000 * 1000};
  while (!shutdown_.load()) {
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      LOG_WARNING("Received %s scheduling shutdown...", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      RequestShutdown();
    }
  }
  LOG_NOTICE("User requested shutdown...");
  for (auto& w : workers_) w->Join();
  {
    std::lock_guard<std::mutex> lock(wal_mu_);
    wal_cv_.notify_all();
  }
  if (wal_thread_.joinable()) wal_thread_.join();
  workers_.clear();
  // Last: every batch of this run precedes the synced marker in the WAL. After a write error
  // the run did not end cleanly and the next one leases a new epoch.
  if (!store_->write_failed()) {
    Status s = kv::RecordCleanShutdown(store_.get(), epoch_);
    if (!s.ok()) LOG_WARNING("Could not record the clean shutdown: %s", s.message().c_str());
  }
  store_.reset();  // flushes memtables, syncs the WAL, closes RocksDB
  LOG_NOTICE("dynis is now ready to exit, bye bye...");
}

void Server::RequestShutdown() {
  shutdown_.store(true);
  for (auto& w : workers_) w->Wake();
  {
    // A worker waiting in PauseOthers for one that is stopping must give up.
    std::lock_guard<std::mutex> lock(pause_mu_);
  }
  pause_cv_.notify_all();
}

bool Server::PauseOthers(Worker& self) {
  stats_.barriers++;
  while (!barrier_mu_.try_lock()) {
    if (shutdown_.load()) return false;
    self.ServicePause();
    std::this_thread::yield();
  }
  std::unique_lock<std::mutex> lock(pause_mu_);
  pause_owner_ = self.id();
  pause_gen_++;
  paused_ = 0;
  pause_requested_.store(true, std::memory_order_release);
  lock.unlock();
  for (auto& w : workers_) {
    if (w.get() != &self) w->Wake();
  }
  lock.lock();
  int others = worker_count() - 1;
  pause_cv_.wait(lock, [&] { return paused_ >= others || shutdown_.load(); });
  if (paused_ >= others) return true;
  // Shutting down: stopped workers will never pause; release those that did.
  pause_requested_.store(false, std::memory_order_release);
  pause_owner_ = -1;
  lock.unlock();
  pause_cv_.notify_all();
  barrier_mu_.unlock();
  return false;
}

void Server::ResumeOthers() {
  {
    std::lock_guard<std::mutex> lock(pause_mu_);
    pause_requested_.store(false, std::memory_order_release);
    pause_owner_ = -1;
  }
  pause_cv_.notify_all();
  barrier_mu_.unlock();
}

}  // namespace dynis::server
