// PeerLink against a small fake peer running on the same libuv loop, on 127.0.0.1 with an
// ephemeral port. The fake speaks the peer handshake with the real peer_auth functions and
// answers "ECHO x" with the bulk x. Every wait is bounded (RunUntil's timeout), and each test
// ends by destroying everything and running the loop dry, so ASan sees the link's cleanup.
#include "transport/peer_link.h"

#include <unistd.h>
#include <uv.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/log.h"
#include "proto/resp_parser.h"
#include "transport/peer_auth.h"

using dynis::proto::Reply;
using dynis::transport::PeerLink;
using dynis::transport::PeerLinkOptions;
using State = dynis::transport::PeerLink::State;

namespace {

constexpr char kSecret[] = "s3cret";
constexpr char kCluster[] = "testcluster";

// The test's event loop. RunUntil polls a predicate every millisecond up to a deadline.
class Loop {
 public:
  Loop() {
    dynis::LogSetLevel(4);  // failures are expected here; keep the test output readable
    uv_loop_init(&loop_);
    uv_timer_init(&loop_, &poll_);
  }
  ~Loop() {
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
    // Everything must wind down by itself: handles closed, Impl freed, queued failures run.
    for (int i = 0; i < 3000 && uv_loop_alive(&loop_); i++) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      if (uv_loop_alive(&loop_)) usleep(1000);
    }
    CHECK(uv_loop_alive(&loop_) == 0);
    CHECK(uv_loop_close(&loop_) == 0);
    dynis::LogSetLevel(2);
  }
  uv_loop_t* get() { return &loop_; }

  bool RunUntil(const std::function<bool()>& pred, int64_t timeout_ms) {
    if (pred()) return true;
    Wait w{&pred, uv_now(&loop_) + static_cast<uint64_t>(timeout_ms), false};
    poll_.data = &w;
    uv_timer_start(
        &poll_,
        [](uv_timer_t* t) {
          auto* w = static_cast<Wait*>(t->data);
          if ((*w->pred)()) {
            w->ok = true;
            uv_stop(t->loop);
          } else if (uv_now(t->loop) >= w->deadline) {
            uv_stop(t->loop);
          }
        },
        1, 1);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_timer_stop(&poll_);
    return w.ok || pred();
  }
  void RunFor(int64_t ms) {
    RunUntil([] { return false; }, ms);
  }

 private:
  struct Wait {
    const std::function<bool()>* pred;
    uint64_t deadline;
    bool ok;
  };
  uv_loop_t loop_;
  uv_timer_t poll_;
};

// A peer's cluster port, reduced to the handshake plus ECHO / ERRME.
class FakePeer {
 public:
  FakePeer(uv_loop_t* loop, std::string secret = kSecret, std::string cluster = kCluster)
      : loop_(loop), secret_(std::move(secret)), cluster_(std::move(cluster)) {}
  ~FakePeer() { Shutdown(); }

  // Listens on 127.0.0.1:port (0: an ephemeral port, reused by later Listen() calls).
  void Listen() {
    REQUIRE(listener_ == nullptr);
    listener_ = new uv_tcp_t;
    uv_tcp_init(loop_, listener_);
    listener_->data = this;
    sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", port_, &addr);
    REQUIRE(uv_tcp_bind(listener_, reinterpret_cast<const sockaddr*>(&addr), 0) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(listener_), 128, &FakePeer::OnConnection) ==
            0);
    sockaddr_storage bound;
    int len = sizeof(bound);
    uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  void StopListening() {
    if (listener_ == nullptr) return;
    uv_close(reinterpret_cast<uv_handle_t*>(listener_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    listener_ = nullptr;
  }
  void DropClients() {
    std::set<Client*> all;
    all.swap(clients_);
    for (Client* c : all) CloseClient(c);
  }
  void Shutdown() {
    StopListening();
    DropClients();
  }

  int port() const { return port_; }
  bool answer = true;            // reply to requests after the handshake
  bool answer_handshake = true;  // reply to DYNIS.HELLO / DYNIS.AUTH
  int accepted = 0;
  int authenticated = 0;
  std::vector<std::string> requests;  // argv[1] of every ECHO, in arrival order

 private:
  struct Client {
    FakePeer* peer = nullptr;
    uv_tcp_t tcp;
    dynis::proto::RequestParser parser;
    std::string in;
    std::string link_nonce, server_nonce;
    bool authed = false;
  };
  struct WriteReq {
    uv_write_t req;
    std::string data;
  };

  static void OnConnection(uv_stream_t* server, int status) {
    auto* p = static_cast<FakePeer*>(server->data);
    if (status < 0) return;
    auto* c = new Client;
    c->peer = p;
    uv_tcp_init(p->loop_, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), &FakePeer::OnClosed);
      return;
    }
    p->accepted++;
    p->clients_.insert(c);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static char mem[64 * 1024];
          *buf = uv_buf_init(mem, sizeof(mem));
        },
        &FakePeer::OnRead);
  }

  static void OnRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* c = static_cast<Client*>(s->data);
    FakePeer* p = c->peer;
    if (nread < 0) {
      p->clients_.erase(c);
      p->CloseClient(c);
      return;
    }
    c->in.append(buf->base, static_cast<size_t>(nread));
    std::string out;
    bool close = false;
    size_t pos = 0;
    for (;;) {
      size_t consumed = 0;
      auto st = c->parser.Parse(c->in.data() + pos, c->in.size() - pos, &consumed);
      pos += consumed;
      if (st != dynis::proto::ParseState::kCommand) break;
      if (!p->Handle(c, c->parser.argv(), &out)) {
        close = true;
        break;
      }
    }
    c->in.erase(0, pos);
    if (!out.empty()) p->Write(c, std::move(out));
    if (close) {
      p->clients_.erase(c);
      p->CloseClient(c);
    }
  }

  // Appends the reply to argv; false: close the connection after writing it.
  bool Handle(Client* c, const std::vector<std::string>& argv, std::string* out) {
    using dynis::transport::PeerProof;
    const std::string& cmd = argv[0];
    if (cmd == "DYNIS.HELLO") {
      if (!answer_handshake) return true;
      if (argv.size() != 3 || argv[1] != cluster_) {
        *out += "-ERR wrong cluster\r\n";
        return false;
      }
      c->link_nonce = argv[2];
      c->server_nonce = dynis::transport::RandomNonce();
      const std::string proof =
          PeerProof(secret_, "server", cluster_, c->link_nonce, c->server_nonce);
      *out += "*2\r\n$32\r\n" + c->server_nonce + "\r\n$64\r\n" + proof + "\r\n";
      return true;
    }
    if (cmd == "DYNIS.AUTH") {
      if (!answer_handshake) return true;
      const std::string want = PeerProof(secret_, "link", cluster_, c->server_nonce, c->link_nonce);
      if (argv.size() != 2 || c->server_nonce.empty() ||
          !dynis::transport::ConstantTimeEquals(argv[1], want)) {
        *out += "-ERR authentication failed\r\n";
        return false;
      }
      c->authed = true;
      authenticated++;
      *out += "+OK\r\n";
      return true;
    }
    if (!c->authed) {
      *out += "-NOAUTH peer not authenticated\r\n";
      return false;
    }
    if (cmd == "ECHO" && argv.size() == 2) {
      requests.push_back(argv[1]);
      if (answer) *out += "$" + std::to_string(argv[1].size()) + "\r\n" + argv[1] + "\r\n";
      return true;
    }
    if (cmd == "GARBAGE") {  // not RESP: the link must drop the connection
      *out += "?junk\r\n";
      return true;
    }
    if (cmd == "TWICE") {  // two replies to one request: the second matches nothing
      *out += "+one\r\n+two\r\n";
      return true;
    }
    if (answer) *out += "-ERR boom\r\n";
    return true;
  }

  void Write(Client* c, std::string data) {
    auto* w = new WriteReq{{}, std::move(data)};
    w->req.data = w;
    uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
    int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &b, 1,
                      [](uv_write_t* r, int) { delete static_cast<WriteReq*>(r->data); });
    if (rc != 0) delete w;
  }

  void CloseClient(Client* c) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), &FakePeer::OnClosed);
  }
  static void OnClosed(uv_handle_t* h) { delete static_cast<Client*>(h->data); }

  uv_loop_t* loop_;
  std::string secret_, cluster_;
  uv_tcp_t* listener_ = nullptr;
  int port_ = 0;
  std::set<Client*> clients_;
};

PeerLinkOptions Options(int port) {
  PeerLinkOptions o;
  o.host = "127.0.0.1";
  o.port = port;
  o.secret = kSecret;
  o.cluster = kCluster;
  o.connect_timeout_ms = 1000;
  o.request_timeout_ms = 1000;
  o.backoff_min_ms = 20;
  o.backoff_max_ms = 160;
  return o;
}

// A port with nothing listening on it: bound once to learn a free number, then released.
int UnusedPort(uv_loop_t* loop) {
  FakePeer probe(loop);
  probe.Listen();
  return probe.port();
}

// What a test observes from callbacks. Declared before the Loop so that it outlives the
// failure deliveries the Loop's destructor may still run.
struct Results {
  int ok = 0;
  int failed = 0;
  std::vector<std::string> values;
  std::vector<State> states;
  std::function<void(State)> Recorder() {
    return [this](State s) { states.push_back(s); };
  }
  PeerLink::Callback Expect(std::string want) {
    return [this, want](const Reply* r, std::string_view raw) {
      if (r == nullptr) {
        failed++;
        return;
      }
      ok++;
      values.push_back(r->str);
      CHECK(r->type == Reply::Type::kBulk);
      CHECK(r->str == want);
      CHECK(raw == "$" + std::to_string(want.size()) + "\r\n" + want + "\r\n");
    };
  }
  bool Saw(State s) const {
    for (State x : states) {
      if (x == s) return true;
    }
    return false;
  }
};

}  // namespace

TEST_CASE("handshake, then 1000 pipelined requests answered in order", "[peer_link]") {
  Results res;
  Loop loop;
  FakePeer peer(loop.get());
  peer.Listen();
  auto link = std::make_unique<PeerLink>(loop.get(), Options(peer.port()), res.Recorder());
  REQUIRE(link->state() == State::kConnecting);

  // Sent while connecting: they wait for the handshake.
  for (int i = 0; i < 1000; i++)
    link->Send({"ECHO", std::to_string(i)}, res.Expect(std::to_string(i)));
  REQUIRE(link->pending() == 1000);
  REQUIRE(loop.RunUntil([&] { return res.ok + res.failed == 1000; }, 3000));
  CHECK(res.failed == 0);
  REQUIRE(res.values.size() == 1000);
  for (int i = 0; i < 1000; i++) REQUIRE(res.values[i] == std::to_string(i));
  CHECK(res.states == std::vector<State>{State::kAuthenticating, State::kReady});
  CHECK(link->state() == State::kReady);
  CHECK(link->failures() == 0);
  CHECK(link->pending() == 0);
  CHECK(peer.authenticated == 1);

  // Sent while ready, including from inside callbacks; an error reply is a reply.
  res.values.clear();
  int chained = 0;
  link->Send({"ECHO", "first"}, [&](const Reply* r, std::string_view) {
    CHECK(r != nullptr);
    for (int i = 0; i < 1000; i++) {
      link->Send({"ECHO", "x" + std::to_string(i)}, [&, i](const Reply* r2, std::string_view) {
        CHECK((r2 != nullptr && r2->str == "x" + std::to_string(i)));
        chained++;
      });
    }
  });
  const Reply* err = nullptr;
  std::string err_raw;
  Reply err_copy;
  link->Send({"NOPE"}, [&](const Reply* r, std::string_view raw) {
    err = r;
    if (r != nullptr) err_copy = *r;
    err_raw = std::string(raw);
  });
  const std::string big(1 << 20, 'b');
  link->Send({"ECHO", big}, res.Expect(big));
  REQUIRE(loop.RunUntil([&] { return chained == 1000 && res.ok == 1001; }, 3000));
  REQUIRE(err != nullptr);
  CHECK(err_copy.type == Reply::Type::kError);
  CHECK(err_copy.str == "ERR boom");
  CHECK(err_raw == "-ERR boom\r\n");
  CHECK(link->state() == State::kReady);
  CHECK(peer.accepted == 1);
  CHECK(peer.requests.size() == 1000 + 1 + 1000 + 1);
}

TEST_CASE("a peer with another secret fails the handshake; requests fail, link backs off",
          "[peer_link]") {
  Results res;
  Loop loop;
  FakePeer peer(loop.get(), "not-the-secret");
  peer.Listen();
  auto link = std::make_unique<PeerLink>(loop.get(), Options(peer.port()), res.Recorder());
  for (int i = 0; i < 3; i++) link->Send({"ECHO", "v"}, res.Expect("v"));
  REQUIRE(loop.RunUntil([&] { return res.failed == 3 && link->failures() >= 2; }, 3000));
  CHECK(res.ok == 0);
  CHECK(res.Saw(State::kBackoff));
  CHECK_FALSE(res.Saw(State::kReady));
  CHECK(peer.authenticated == 0);  // the link rejected the server's proof before sending AUTH
  CHECK(peer.requests.empty());
}

TEST_CASE("a peer of another cluster refuses the handshake", "[peer_link]") {
  Results res;
  Loop loop;
  FakePeer peer(loop.get(), kSecret, "othercluster");
  peer.Listen();
  auto link = std::make_unique<PeerLink>(loop.get(), Options(peer.port()), res.Recorder());
  link->Send({"ECHO", "v"}, res.Expect("v"));
  REQUIRE(loop.RunUntil([&] { return res.failed == 1 && res.Saw(State::kBackoff); }, 3000));
  CHECK_FALSE(res.Saw(State::kReady));
  CHECK(link->failures() >= 1);
}

TEST_CASE("peer closing mid-flight fails pending requests; the link reconnects when it is back",
          "[peer_link]") {
  Results res;
  Loop loop;
  FakePeer peer(loop.get());
  peer.Listen();
  const int port = peer.port();
  auto link = std::make_unique<PeerLink>(loop.get(), Options(port), res.Recorder());
  REQUIRE(loop.RunUntil([&] { return link->state() == State::kReady; }, 2000));

  peer.answer = false;
  for (int i = 0; i < 5; i++) link->Send({"ECHO", "a"}, res.Expect("a"));
  REQUIRE(loop.RunUntil([&] { return peer.requests.size() == 5; }, 2000));
  peer.Shutdown();  // stop listening and drop the connection with 5 requests unanswered
  REQUIRE(loop.RunUntil([&] { return res.failed == 5; }, 2000));
  CHECK(link->pending() == 0);
  // Reconnects are refused while the peer is away.
  REQUIRE(loop.RunUntil([&] { return link->failures() >= 3; }, 3000));
  CHECK(link->state() != State::kReady);

  peer.answer = true;
  peer.Listen();  // same port
  REQUIRE(peer.port() == port);
  REQUIRE(loop.RunUntil([&] { return link->state() == State::kReady; }, 3000));
  link->Send({"ECHO", "back"}, res.Expect("back"));
  REQUIRE(loop.RunUntil([&] { return res.ok == 1; }, 2000));
  CHECK(res.failed == 5);
  CHECK(peer.authenticated == 2);
}

TEST_CASE("a paused peer: the oldest request's timeout fails the connection", "[peer_link]") {
  Results res;
  Loop loop;
  FakePeer peer(loop.get());
  peer.Listen();
  PeerLinkOptions opts = Options(peer.port());
  opts.request_timeout_ms = 200;
  auto link = std::make_unique<PeerLink>(loop.get(), opts, res.Recorder());
  REQUIRE(loop.RunUntil([&] { return link->state() == State::kReady; }, 2000));

  peer.answer = false;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; i++) link->Send({"ECHO", "p"}, res.Expect("p"));
  REQUIRE(loop.RunUntil([&] { return res.failed == 3; }, 3000));
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  CHECK(ms >= 150);  // the link measures from the loop's cached time
  CHECK(ms < 1500);
  CHECK(res.ok == 0);
  CHECK(res.Saw(State::kBackoff));
  CHECK(link->failures() == 1);
  // The peer is answering again: the link recovers by itself.
  peer.answer = true;
  REQUIRE(loop.RunUntil([&] { return link->state() == State::kReady; }, 2000));
  link->Send({"ECHO", "ok"}, res.Expect("ok"));
  REQUIRE(loop.RunUntil([&] { return res.ok == 1; }, 2000));
}

TEST_CASE("a peer breaking the protocol loses the connection", "[peer_link]") {
  Results res;
  Loop loop;
  FakePeer peer(loop.get());
  peer.Listen();
  auto link = std::make_unique<PeerLink>(loop.get(), Options(peer.port()), res.Recorder());
  REQUIRE(loop.RunUntil([&] { return link->state() == State::kReady; }, 2000));
  const std::string cmd = GENERATE("GARBAGE", "TWICE");
  CAPTURE(cmd);
  int first = 0;
  link->Send({cmd}, [&](const Reply* r, std::string_view) {
    // TWICE's first reply is a proper answer (the second one, with nothing pending, is the
    // violation); GARBAGE gets none.
    first = r == nullptr ? -1 : 1;
  });
  REQUIRE(loop.RunUntil([&] { return first != 0 && res.Saw(State::kBackoff); }, 2000));
  CHECK(first == (cmd == "TWICE" ? 1 : -1));
  CHECK(link->failures() == 1);
  // And it comes back.
  REQUIRE(loop.RunUntil([&] { return link->state() == State::kReady; }, 2000));
}

TEST_CASE("a peer that never completes the handshake hits the connect timeout", "[peer_link]") {
  Results res;
  Loop loop;
  FakePeer peer(loop.get());
  peer.answer_handshake = false;
  peer.Listen();
  PeerLinkOptions opts = Options(peer.port());
  opts.connect_timeout_ms = 150;
  auto link = std::make_unique<PeerLink>(loop.get(), opts, res.Recorder());
  link->Send({"ECHO", "h"}, res.Expect("h"));
  REQUIRE(loop.RunUntil([&] { return res.failed == 1; }, 2000));
  CHECK(res.Saw(State::kAuthenticating));
  CHECK(res.Saw(State::kBackoff));
  CHECK_FALSE(res.Saw(State::kReady));
}

TEST_CASE("connection refused: backoff doubles between retries", "[peer_link]") {
  Results res;
  Loop loop;
  const int port = UnusedPort(loop.get());
  PeerLinkOptions opts = Options(port);
  opts.backoff_min_ms = 20;
  opts.backoff_max_ms = 80;
  std::vector<std::pair<State, std::chrono::steady_clock::time_point>> seen;
  auto link = std::make_unique<PeerLink>(
      loop.get(), opts, [&](State s) { seen.emplace_back(s, std::chrono::steady_clock::now()); });
  REQUIRE(loop.RunUntil([&] { return link->failures() >= 5; }, 3000));
  // Alternates backoff -> connecting; the time spent in backoff is 20, 40, 80, 80 ms.
  std::vector<int64_t> waits;
  for (size_t i = 0; i + 1 < seen.size(); i++) {
    if (seen[i].first == State::kBackoff) {
      REQUIRE(seen[i + 1].first == State::kConnecting);
      waits.push_back(
          std::chrono::duration_cast<std::chrono::milliseconds>(seen[i + 1].second - seen[i].second)
              .count());
    }
  }
  REQUIRE(waits.size() >= 4);
  CHECK(waits[0] >= 18);
  CHECK(waits[1] >= 38);
  CHECK(waits[2] >= 78);
  CHECK(waits[3] >= 78);
  CHECK(waits[3] < 400);  // capped at backoff_max_ms
  for (const auto& [s, t] : seen) CHECK(s != State::kReady);
}

TEST_CASE("Send in backoff fails from the loop, never inside Send", "[peer_link]") {
  Results res;
  Loop loop;
  PeerLinkOptions opts = Options(UnusedPort(loop.get()));
  opts.backoff_min_ms = 500;
  opts.backoff_max_ms = 500;
  auto link = std::make_unique<PeerLink>(loop.get(), opts, res.Recorder());
  REQUIRE(loop.RunUntil([&] { return link->state() == State::kBackoff; }, 2000));

  bool called = false;
  bool inside_send = false;
  int resent_failures = 0;
  inside_send = true;
  link->Send({"ECHO", "x"}, [&](const Reply* r, std::string_view raw) {
    CHECK_FALSE(inside_send);
    CHECK(r == nullptr);
    CHECK(raw.empty());
    called = true;
    // Sending again from a failure callback also fails later, not recursively.
    inside_send = true;
    link->Send({"ECHO", "y"}, [&](const Reply* r2, std::string_view) {
      CHECK_FALSE(inside_send);
      CHECK(r2 == nullptr);
      resent_failures++;
    });
    inside_send = false;
  });
  inside_send = false;
  CHECK_FALSE(called);
  CHECK(link->pending() == 0);
  REQUIRE(loop.RunUntil([&] { return resent_failures == 1; }, 1000));
  CHECK(called);
  CHECK(link->state() == State::kBackoff);
}

TEST_CASE("requests beyond max_queued while connecting fail at once (from the loop)",
          "[peer_link]") {
  Results res;
  Loop loop;
  FakePeer peer(loop.get());
  peer.Listen();
  PeerLinkOptions opts = Options(peer.port());
  opts.max_queued = 2;
  auto link = std::make_unique<PeerLink>(loop.get(), opts, res.Recorder());
  for (int i = 0; i < 5; i++) link->Send({"ECHO", "q"}, res.Expect("q"));
  CHECK(link->pending() == 2);
  CHECK(res.failed == 0);
  REQUIRE(loop.RunUntil([&] { return res.ok + res.failed == 5; }, 2000));
  CHECK(res.ok == 2);
  CHECK(res.failed == 3);
}

TEST_CASE("destroying the link fails its pending requests from the loop", "[peer_link]") {
  Results res;
  Loop loop;
  FakePeer peer(loop.get());
  peer.Listen();

  SECTION("requests in flight") {
    auto link = std::make_unique<PeerLink>(loop.get(), Options(peer.port()), res.Recorder());
    REQUIRE(loop.RunUntil([&] { return link->state() == State::kReady; }, 2000));
    peer.answer = false;
    for (int i = 0; i < 10; i++) link->Send({"ECHO", "d"}, res.Expect("d"));
    REQUIRE(loop.RunUntil([&] { return peer.requests.size() == 10; }, 2000));
    const size_t states = res.states.size();
    link.reset();
    CHECK(res.failed == 0);              // not inside the destructor
    CHECK(res.states.size() == states);  // the owner is not told about its own teardown
    REQUIRE(loop.RunUntil([&] { return res.failed == 10; }, 1000));
  }
  SECTION("requests waiting for the connection") {
    auto link = std::make_unique<PeerLink>(loop.get(), Options(peer.port()), res.Recorder());
    for (int i = 0; i < 10; i++) link->Send({"ECHO", "d"}, res.Expect("d"));
    link.reset();
    CHECK(res.failed == 0);
    REQUIRE(loop.RunUntil([&] { return res.failed == 10; }, 1000));
  }
  SECTION("destroyed by a reply callback, with more requests pending") {
    auto link = std::make_unique<PeerLink>(loop.get(), Options(peer.port()), res.Recorder());
    link->Send({"ECHO", "first"}, [&](const Reply* r, std::string_view raw) {
      CHECK(r != nullptr);
      link.reset();
      // The reply and its bytes stay valid until the callback returns.
      CHECK((r != nullptr && r->str == "first"));
      CHECK(raw == "$5\r\nfirst\r\n");
      res.ok++;
    });
    for (int i = 0; i < 10; i++) link->Send({"ECHO", "d"}, res.Expect("d"));
    REQUIRE(loop.RunUntil([&] { return res.ok == 1 && res.failed == 10; }, 2000));
  }
  SECTION("destroyed by its own state callback") {
    std::unique_ptr<PeerLink> link;
    link = std::make_unique<PeerLink>(loop.get(), Options(peer.port()), [&](State s) {
      if (s == State::kAuthenticating) link.reset();
    });
    link->Send({"ECHO", "d"}, res.Expect("d"));
    REQUIRE(loop.RunUntil([&] { return res.failed == 1; }, 2000));
    CHECK(link == nullptr);
  }
  SECTION("a never-run link") {
    auto link = std::make_unique<PeerLink>(loop.get(), Options(peer.port()), res.Recorder());
    link.reset();
  }
}

TEST_CASE("Close fails pending requests, later Sends fail, state callbacks stop", "[peer_link]") {
  Results res;
  Loop loop;
  FakePeer peer(loop.get());
  peer.Listen();
  auto link = std::make_unique<PeerLink>(loop.get(), Options(peer.port()), res.Recorder());
  REQUIRE(loop.RunUntil([&] { return link->state() == State::kReady; }, 2000));
  peer.answer = false;
  link->Send({"ECHO", "c"}, res.Expect("c"));
  link->Close();
  CHECK(link->state() == State::kClosed);
  CHECK(res.states.back() == State::kClosed);
  CHECK(res.failed == 0);
  link->Send({"ECHO", "c"}, res.Expect("c"));
  CHECK(res.failed == 0);
  REQUIRE(loop.RunUntil([&] { return res.failed == 2; }, 1000));
  loop.RunFor(100);  // no reconnect after Close
  CHECK(link->state() == State::kClosed);
  CHECK(peer.accepted == 1);
  link->Close();  // idempotent
  link->Send({"ECHO", "c"}, res.Expect("c"));
  REQUIRE(loop.RunUntil([&] { return res.failed == 3; }, 1000));
}

TEST_CASE("a host name is resolved", "[peer_link]") {
  Results res;
  Loop loop;
  FakePeer peer(loop.get());
  peer.Listen();
  PeerLinkOptions opts = Options(peer.port());
  opts.host = "localhost";  // may resolve to ::1 first: the link tries each address
  auto link = std::make_unique<PeerLink>(loop.get(), opts, res.Recorder());
  link->Send({"ECHO", "named"}, res.Expect("named"));
  REQUIRE(loop.RunUntil([&] { return res.ok == 1; }, 3000));
  CHECK(link->failures() == 0);

  // Destroyed while its name resolution is in flight: the resolver's callback still comes and
  // must find nothing freed.
  auto resolving = std::make_unique<PeerLink>(loop.get(), opts, res.Recorder());
  resolving->Send({"ECHO", "never"}, res.Expect("never"));
  resolving.reset();
  REQUIRE(loop.RunUntil([&] { return res.failed == 1; }, 1000));
}

TEST_CASE("an invalid port fails from the loop and backs off", "[peer_link]") {
  Results res;
  Loop loop;
  auto link = std::make_unique<PeerLink>(loop.get(), Options(0), res.Recorder());
  link->Send({"ECHO", "x"}, res.Expect("x"));
  CHECK(res.states.empty());  // nothing reported from inside the constructor
  REQUIRE(loop.RunUntil([&] { return res.failed == 1 && res.Saw(State::kBackoff); }, 1000));
}
