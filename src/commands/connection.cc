// Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET, CLIENT.
#include <algorithm>
#include <cctype>

#include "commands/client_state.h"
#include "commands/command.h"
#include "commands/node_context.h"
#include "commands/util.h"
#include "common/clock.h"
#include "common/errors.h"
#include "config/config.h"

namespace dynis {

namespace {

// Compares in time independent of where the strings differ (AUTH must not leak the password).
bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; i++) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

// Checks credentials against requirepass as Redis's default user does. Returns an error text
// or "" when accepted.
std::string CheckAuth(const Config& cfg, const std::string* user, const std::string& pass) {
  std::string required = cfg.requirepass();
  if (user != nullptr && *user != "default") return err::kWrongPass;
  if (required.empty()) {
    if (user == nullptr) return err::kAuthNotConfigured;
    return "";  // the default user has no password: anything goes
  }
  return ConstantTimeEquals(pass, required) ? "" : err::kWrongPass;
}

void CmdPing(CommandContext& c) {
  if (c.argv.size() > 2) {
    c.reply.Error(err::WrongArity("ping"));
  } else if (c.argv.size() == 2) {
    c.reply.Bulk(c.argv[1]);
  } else {
    c.reply.Simple("PONG");
  }
}

void CmdEcho(CommandContext& c) { c.reply.Bulk(c.argv[1]); }

void CmdAuth(CommandContext& c) {
  const std::string* user = c.argv.size() == 3 ? &c.argv[1] : nullptr;
  const std::string& pass = c.argv.back();
  if (c.argv.size() > 3) {
    c.reply.Error(err::kSyntax);
    return;
  }
  std::string e = CheckAuth(c.node.config(), user, pass);
  if (!e.empty()) {
    c.reply.Error(e);
    return;
  }
  c.client->authenticated = true;
  c.reply.Ok();
}

// What HELLO asks for: a protocol version, credentials checked already, a name.
struct HelloArgs {
  int ver = 2;
  bool authed_now = false;
  bool has_setname = false;
  std::string setname;
};

// Parses HELLO [protover [AUTH user pass] [SETNAME name]]; false after replying the error.
bool ParseHello(CommandContext& c, HelloArgs* h) {
  h->ver = c.client->resp;
  size_t i = 1;
  if (c.argv.size() >= 2) {
    int64_t v;
    if (!ParseInt64(c.argv[1], &v)) {
      c.reply.Error(err::kProtoVersionNotInteger);
      return false;
    }
    if (v < 2 || v > 3) {
      c.reply.Error(err::kNoProto);
      return false;
    }
    h->ver = static_cast<int>(v);
    i = 2;
  }
  for (; i < c.argv.size(); i++) {
    std::string opt = ToLower(c.argv[i]);
    bool more = i + 1 < c.argv.size();
    if (opt == "auth" && i + 2 < c.argv.size()) {
      std::string e = CheckAuth(c.node.config(), &c.argv[i + 1], c.argv[i + 2]);
      if (!e.empty()) {
        c.reply.Error(e);
        return false;
      }
      h->authed_now = true;
      i += 2;
    } else if (opt == "setname" && more) {
      h->setname = c.argv[i + 1];
      h->has_setname = true;
      i += 1;
    } else {
      c.reply.Error(err::HelloSyntax(c.argv[i]));
      return false;
    }
  }
  return true;
}

// HELLO's answer: the server's properties, in the protocol just chosen.
void ReplyHello(CommandContext& c, int ver) {
  c.reply.set_resp(ver);
  c.reply.Map(7);
  c.reply.Bulk("server");
  c.reply.Bulk("redis");
  c.reply.Bulk("version");
  c.reply.Bulk(kRedisVersion);
  c.reply.Bulk("proto");
  c.reply.Integer(ver);
  c.reply.Bulk("id");
  c.reply.Integer(static_cast<int64_t>(c.client->id()));
  c.reply.Bulk("mode");
  c.reply.Bulk("standalone");
  c.reply.Bulk("role");
  c.reply.Bulk("master");
  c.reply.Bulk("modules");
  c.reply.Array(0);
}

void CmdHello(CommandContext& c) {
  ClientState* cl = c.client;
  HelloArgs h;
  if (!ParseHello(c, &h)) return;
  if (!cl->authenticated && !h.authed_now) {
    c.reply.Error(err::kHelloNoAuth);
    return;
  }
  if (h.has_setname && !ValidClientName(h.setname)) {
    c.reply.Error(err::kBadClientName);
    return;
  }
  if (h.authed_now) cl->authenticated = true;
  if (h.has_setname) cl->name = h.setname;
  cl->resp = h.ver;
  ReplyHello(c, h.ver);
}

void CmdSelect(CommandContext& c) {
  int64_t id;
  if (!ParseInt64(c.argv[1], &id) || id < INT32_MIN || id > INT32_MAX) {
    c.reply.Error(err::kInvalidDbIndex);
    return;
  }
  if (id != 0) {
    c.reply.Error(err::kSelectCluster);
    return;
  }
  c.reply.Ok();
}

void CmdQuit(CommandContext& c) { c.reply.Ok(); }  // dispatch closes after the reply

void CmdReset(CommandContext& c) {
  ClientState* cl = c.client;
  cl->in_multi = false;
  cl->multi_error = false;
  cl->multi_queue.clear();
  cl->watched.clear();
  cl->name.clear();
  cl->no_evict = false;
  cl->resp = 2;
  c.reply.set_resp(2);
  cl->authenticated = c.node.config().requirepass().empty();
  c.reply.Simple("RESET");
}

// --- CLIENT ----------------------------------------------------------------------------------

std::string ClientInfoLine(const ClientState& cl, int64_t now_ms) {
  std::string flags = cl.in_multi ? "x" : "N";
  if (cl.no_evict) flags += "e";
  std::string s;
  s += "id=" + std::to_string(cl.id());
  s += " addr=" + cl.addr;
  s += " laddr=" + cl.laddr;
  s += " fd=" + std::to_string(cl.fd);
  s += " name=" + cl.name;
  s += " age=" + std::to_string((now_ms - cl.created_ms) / 1000);
  s += " idle=" + std::to_string((now_ms - cl.last_interaction_ms) / 1000);
  s += " flags=" + flags;
  s += " db=0 sub=0 psub=0 ssub=0";
  s += " multi=" + std::to_string(cl.in_multi ? static_cast<int64_t>(cl.multi_queue.size()) : -1);
  s += " qbuf=" + std::to_string(cl.query_buffer_bytes());
  s += " qbuf-free=0 argv-mem=0 multi-mem=0 rbs=65536 rbp=0";
  s += " obl=" + std::to_string(cl.output_bytes());
  s += " oll=" + std::to_string(cl.pending_replies());
  s += " omem=" + std::to_string(cl.output_bytes());
  s += " tot-mem=" + std::to_string(cl.output_bytes() + cl.query_buffer_bytes());
  s += " events=r cmd=" + cl.last_command;
  s += " user=default redir=-1 resp=" + std::to_string(cl.resp);
  s += " lib-name=" + cl.lib_name + " lib-ver=" + cl.lib_ver;
  return s;
}

// Runs fn over every client of every worker, with the other workers paused. False (after
// replying the error) when the server is shutting down and the others cannot be paused.
template <class Fn>
[[nodiscard]] bool ForEachClient(CommandContext& c, Fn fn) {
  bool pause = c.node.io_threads() > 1;
  if (pause && !c.node.PauseOthers()) {
    c.reply.Error(err::kShuttingDown);
    return false;
  }
  for (int i = 0; i < c.node.io_threads(); i++) {
    std::vector<ClientState*> clients = c.node.ClientsOf(i);
    std::sort(clients.begin(), clients.end(),
              [](ClientState* a, ClientState* b) { return a->id() < b->id(); });
    for (ClientState* cl : clients) fn(cl);
  }
  if (pause) c.node.ResumeOthers();
  return true;
}

// Kills `cl` for CLIENT KILL. As in Redis the kill is synchronous: a client of this loop is
// closed now (the cron would only get to it later, after it may have run more commands); a
// client of another loop (paused by ForEachClient) is closed by its loop as it resumes; the
// caller itself is closed after this reply.
void KillClient(CommandContext& c, ClientState* cl) {
  if (cl != c.client && c.node.OnThisLoop(cl)) {
    c.node.CloseClient(cl);
    return;
  }
  cl->kill_requested = true;
}

void CmdClientSetName(CommandContext& c) {
  if (!ValidClientName(c.argv[2])) {
    c.reply.Error(err::kBadClientName);
    return;
  }
  c.client->name = c.argv[2];
  c.reply.Ok();
}

void CmdClientGetName(CommandContext& c) {
  if (c.client->name.empty()) {
    c.reply.NullBulk();
  } else {
    c.reply.Bulk(c.client->name);
  }
}

void CmdClientSetInfo(CommandContext& c) {
  std::string attr = ToLower(c.argv[2]);
  if (attr != "lib-name" && attr != "lib-ver") {
    c.reply.Error(err::UnrecognizedOption(c.argv[2]));
    return;
  }
  if (!ValidClientName(c.argv[3])) {
    c.reply.Error(err::BadClientInfo(attr));
    return;
  }
  (attr == "lib-name" ? c.client->lib_name : c.client->lib_ver) = c.argv[3];
  c.reply.Ok();
}

void CmdClientId(CommandContext& c) { c.reply.Integer(static_cast<int64_t>(c.client->id())); }

void CmdClientInfo(CommandContext& c) {
  c.reply.Verbatim(ClientInfoLine(*c.client, NowMs()) + "\n");
}

void CmdClientList(CommandContext& c) {
  std::vector<uint64_t> ids;
  for (size_t i = 2; i < c.argv.size(); i++) {
    std::string opt = ToLower(c.argv[i]);
    if (opt == "type" && i + 1 < c.argv.size()) {
      std::string t = ToLower(c.argv[++i]);
      if (t != "normal" && t != "master" && t != "replica" && t != "slave" && t != "pubsub") {
        c.reply.Error(err::UnknownClientType(c.argv[i]));
        return;
      }
      if (t != "normal") {
        c.reply.Verbatim("");
        return;
      }
    } else if (opt == "id" && i + 1 < c.argv.size()) {
      for (i++; i < c.argv.size(); i++) {
        int64_t id;
        if (!ParseInt64(c.argv[i], &id) || id <= 0) {
          c.reply.Error(err::kInvalidClientId);
          return;
        }
        ids.push_back(static_cast<uint64_t>(id));
      }
    } else {
      c.reply.Error(err::kSyntax);
      return;
    }
  }
  std::string out;
  int64_t now = NowMs();
  bool ok = ForEachClient(c, [&](ClientState* cl) {
    if (!ids.empty() && std::find(ids.begin(), ids.end(), cl->id()) == ids.end()) return;
    out += ClientInfoLine(*cl, now) + "\n";
  });
  if (ok) c.reply.Verbatim(out);
}

// CLIENT KILL ip:port (the old form): +OK, or an error when no client has that address.
void ClientKillByAddr(CommandContext& c) {
  bool found = false;
  std::string target = c.argv[2];
  bool ok = ForEachClient(c, [&](ClientState* cl) {
    if (!found && cl->addr == target) {
      found = true;
      KillClient(c, cl);
    }
  });
  if (!ok) return;
  if (!found) {
    c.reply.Error(err::kNoSuchClient);
    return;
  }
  c.reply.Ok();
  if (c.client->kill_requested) c.client->close_after_reply = true;
}

// The filters of CLIENT KILL <filter> <value> ... (empty or -1: not filtered).
struct KillFilter {
  int64_t id = -1;
  std::string addr, laddr, type, user;
  bool skipme = true;
};

// Reads one filter into *f; false after replying the error.
bool ParseKillFilter(CommandContext& c, const std::string& opt, const std::string& v,
                     KillFilter* f) {
  if (opt == "id") {
    if (!ParseInt64(v, &f->id) || f->id <= 0) {
      c.reply.Error(err::kClientIdNotPositive);
      return false;
    }
  } else if (opt == "addr") {
    f->addr = v;
  } else if (opt == "laddr") {
    f->laddr = v;
  } else if (opt == "type") {
    f->type = ToLower(v);
    if (f->type != "normal" && f->type != "master" && f->type != "replica" &&
        f->type != "slave" && f->type != "pubsub") {
      c.reply.Error(err::UnknownClientType(v));
      return false;
    }
  } else if (opt == "user") {
    f->user = v;
  } else if (opt == "skipme") {
    std::string b = ToLower(v);
    if (b != "yes" && b != "no") {
      c.reply.Error(err::kSyntax);
      return false;
    }
    f->skipme = b == "yes";
  } else if (opt == "maxage") {
    int64_t ignored;
    if (!ParseInt64(v, &ignored)) {
      c.reply.Error(err::kNotInteger);
      return false;
    }
  } else {
    c.reply.Error(err::kSyntax);
    return false;
  }
  return true;
}

bool KillFilterMatches(const KillFilter& f, const ClientState* cl, const ClientState* caller) {
  if (f.id != -1 && cl->id() != static_cast<uint64_t>(f.id)) return false;
  if (!f.addr.empty() && cl->addr != f.addr) return false;
  if (!f.laddr.empty() && cl->laddr != f.laddr) return false;
  if (!f.type.empty() && f.type != "normal") return false;
  if (!f.user.empty() && f.user != "default") return false;
  return !(cl == caller && f.skipme);
}

void CmdClientKill(CommandContext& c) {
  if (c.argv.size() == 3) return ClientKillByAddr(c);
  if (c.argv.size() % 2 != 0) {
    c.reply.Error(err::kSyntax);
    return;
  }
  KillFilter filter;
  for (size_t i = 2; i + 1 < c.argv.size(); i += 2) {
    if (!ParseKillFilter(c, ToLower(c.argv[i]), c.argv[i + 1], &filter)) return;
  }
  int64_t killed = 0;
  bool ok = ForEachClient(c, [&](ClientState* cl) {
    if (!KillFilterMatches(filter, cl, c.client)) return;
    KillClient(c, cl);
    killed++;
  });
  if (!ok) return;
  c.reply.Integer(killed);
  if (c.client->kill_requested) c.client->close_after_reply = true;
}

void CmdClientNoEvict(CommandContext& c) {
  std::string v = ToLower(c.argv[2]);
  if (v != "on" && v != "off") {
    c.reply.Error(err::kSyntax);
    return;
  }
  c.client->no_evict = v == "on";
  c.reply.Ok();
}

void CmdClientHelp(CommandContext& c) {
  static const char* kLines[] = {
      "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "GETNAME",
      "    Return the name of the current connection.",
      "ID",
      "    Return the ID of the current connection.",
      "INFO",
      "    Return information about the current client connection.",
      "KILL <ip:port>",
      "    Kill connection made from <ip:port>.",
      "KILL <option> <value> [<option> <value> [...]]",
      "    Kill connections. Options are: ID, ADDR, LADDR, TYPE, USER, SKIPME.",
      "LIST [options ...]",
      "    Return information about client connections. Options: TYPE, ID.",
      "NO-EVICT (ON|OFF)",
      "    Protect current client connection from eviction.",
      "SETNAME <name>",
      "    Assign the name <name> to the current connection.",
      "SETINFO <option> <value>",
      "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
      "HELP",
      "    Print this help.",
  };
  c.reply.Array(sizeof(kLines) / sizeof(kLines[0]));
  for (const char* l : kLines) c.reply.Simple(l);
}

}  // namespace

// One command per declaration reads as a table.
// clang-format off
void RegisterConnectionCommands(std::vector<CommandSpec>* out) {
  const uint32_t conn = kCmdConn | kCmdLoading | kCmdStale;
  out->push_back({"ping", -1, conn | kCmdFast, 0, 0, 0, CmdPing, "connection", "Ping the server",
                  "1.0.0", "O(1)", {{"message", "string", nullptr, true}}, {},
                  "@fast @connection"});
  out->push_back({"echo", 2, conn | kCmdFast, 0, 0, 0, CmdEcho, "connection",
                  "Echo the given string", "1.0.0", "O(1)", {{"message", "string"}}, {},
                  "@fast @connection"});
  out->push_back({"auth", -2, conn | kCmdNoAuth | kCmdFast | kCmdNoScript, 0, 0, 0, CmdAuth,
                  "connection", "Authenticate to the server", "1.0.0",
                  "O(N) where N is the number of passwords defined for the user",
                  {{"username", "string", nullptr, true}, {"password", "string"}}, {},
                  "@fast @connection"});
  out->push_back(
      {"hello", -1, conn | kCmdNoAuth | kCmdFast | kCmdNoScript, 0, 0, 0, CmdHello, "connection",
       "Handshake with Redis", "6.0.0", "O(1)",
       {{"arguments", "block", nullptr, true, false,
         {{"protover", "integer"},
          {"username_password", "block", "AUTH", true, false,
           {{"username", "string"}, {"password", "string"}}},
          {"clientname", "string", "SETNAME", true}}}},
       {}, "@fast @connection"});
  out->push_back({"select", 2, conn | kCmdFast, 0, 0, 0, CmdSelect, "connection",
                  "Change the selected database for the current connection", "1.0.0", "O(1)",
                  {{"index", "integer"}}, {}, "@fast @connection"});
  out->push_back({"quit", -1, conn | kCmdNoAuth | kCmdFast | kCmdNotQueued | kCmdQuit, 0, 0, 0, CmdQuit, "connection",
                  "Close the connection", "1.0.0", "O(1)", {}, {}, "@fast @connection"});
  out->push_back({"reset", 1, conn | kCmdNoAuth | kCmdFast | kCmdNoScript | kCmdNotQueued, 0, 0, 0, CmdReset,
                  "connection", "Reset the connection", "6.2.0", "O(1)", {}, {},
                  "@fast @connection"});
  CommandSpec client{"client", -2, conn, 0, 0, 0, nullptr, "connection",
                     "A container for client connection commands", "2.4.0",
                     "Depends on subcommand.", {}, {}, "@slow"};
  client.subcommands = {
      {"client|setname", 3, conn | kCmdNoScript, 0, 0, 0, CmdClientSetName, "connection",
       "Set the current connection name", "2.6.9", "O(1)", {{"connection-name", "string"}}, {},
       "@slow @connection"},
      {"client|getname", 2, conn | kCmdNoScript, 0, 0, 0, CmdClientGetName, "connection",
       "Get the current connection name", "2.6.9", "O(1)", {}, {}, "@slow @connection"},
      {"client|setinfo", 4, conn | kCmdNoScript, 0, 0, 0, CmdClientSetInfo, "connection",
       "Set client or connection specific info", "7.2.0", "O(1)",
       {{"attr", "oneof", nullptr, false, false,
         {{"libname", "string", "LIB-NAME"}, {"libver", "string", "LIB-VER"}}}},
       {}, "@slow @connection"},
      {"client|id", 2, conn | kCmdNoScript, 0, 0, 0, CmdClientId, "connection",
       "Returns the client ID for the current connection", "5.0.0", "O(1)", {}, {},
       "@slow @connection"},
      {"client|info", 2, conn | kCmdNoScript, 0, 0, 0, CmdClientInfo, "connection",
       "Returns information about the current client connection.", "6.2.0", "O(1)", {}, {},
       "@slow @connection"},
      {"client|list", -2, conn | kCmdNoScript | kCmdAdmin, 0, 0, 0, CmdClientList, "connection",
       "Get the list of client connections", "2.4.0",
       "O(N) where N is the number of client connections",
       {{"type", "oneof", "TYPE", true, false,
         {{"normal", "pure-token", "NORMAL"},
          {"master", "pure-token", "MASTER"},
          {"replica", "pure-token", "REPLICA"},
          {"pubsub", "pure-token", "PUBSUB"}}},
        {"client-id", "integer", "ID", true, true}},
       {}, "@admin @slow @dangerous @connection"},
      {"client|kill", -3, conn | kCmdNoScript | kCmdAdmin, 0, 0, 0, CmdClientKill, "connection",
       "Kill the connection of a client", "2.4.0",
       "O(N) where N is the number of client connections",
       {{"filter", "oneof", nullptr, false, false,
         {{"ip:port", "string"},
          {"client-id", "integer", "ID", true},
          {"addr", "string", "ADDR", true},
          {"laddr", "string", "LADDR", true},
          {"username", "string", "USER", true},
          {"yes/no", "string", "SKIPME", true}}}},
       {}, "@admin @slow @dangerous @connection"},
      {"client|no-evict", 3, conn | kCmdNoScript | kCmdAdmin, 0, 0, 0, CmdClientNoEvict,
       "connection", "Set client eviction mode for the current connection", "7.0.0", "O(1)",
       {{"enabled", "oneof", nullptr, false, false,
         {{"on", "pure-token", "ON"}, {"off", "pure-token", "OFF"}}}},
       {}, "@admin @slow @dangerous @connection"},
      {"client|help", 2, conn, 0, 0, 0, CmdClientHelp, "connection",
       "Show helpful text about the different subcommands", "5.0.0", "O(1)", {}, {},
       "@slow @connection"},
  };
  out->push_back(std::move(client));
}
// clang-format on

}  // namespace dynis
