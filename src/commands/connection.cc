// Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET, CLIENT.
#include <algorithm>
#include <cctype>

#include "commands/command.h"
#include "commands/util.h"
#include "common/errors.h"
#include "server/server.h"

namespace dynis {

using server::Client;

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
    c.reply.Error("ERR wrong number of arguments for 'ping' command");
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
  std::string e = CheckAuth(c.server.config(), user, pass);
  if (!e.empty()) {
    c.reply.Error(e);
    return;
  }
  c.client->authenticated = true;
  c.reply.Ok();
}

void CmdHello(CommandContext& c) {
  Client* cl = c.client;
  int ver = cl->resp;
  size_t i = 1;
  if (c.argv.size() >= 2) {
    int64_t v;
    if (!ParseInt64(c.argv[1], &v)) {
      c.reply.Error("ERR Protocol version is not an integer or out of range");
      return;
    }
    if (v < 2 || v > 3) {
      c.reply.Error(err::kNoProto);
      return;
    }
    ver = static_cast<int>(v);
    i = 2;
  }
  bool authed_now = false;
  std::string setname;
  bool has_setname = false;
  for (; i < c.argv.size(); i++) {
    std::string opt = ToLower(c.argv[i]);
    bool more = i + 1 < c.argv.size();
    if (opt == "auth" && i + 2 < c.argv.size()) {
      std::string e = CheckAuth(c.server.config(), &c.argv[i + 1], c.argv[i + 2]);
      if (!e.empty()) {
        c.reply.Error(e);
        return;
      }
      authed_now = true;
      i += 2;
    } else if (opt == "setname" && more) {
      setname = c.argv[i + 1];
      has_setname = true;
      i += 1;
    } else {
      c.reply.Error("ERR Syntax error in HELLO option '" + c.argv[i] + "'");
      return;
    }
  }
  if (!cl->authenticated && !authed_now) {
    c.reply.Error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO "
        "<proto> AUTH <user> <pass> option can be used to authenticate the client and select the "
        "RESP protocol version at the same time");
    return;
  }
  if (has_setname && !ValidClientName(setname)) {
    c.reply.Error("ERR Client names cannot contain spaces, newlines or special characters.");
    return;
  }
  if (authed_now) cl->authenticated = true;
  if (has_setname) cl->name = setname;
  cl->resp = ver;
  c.reply.set_resp(ver);
  c.reply.Map(7);
  c.reply.Bulk("server");
  c.reply.Bulk("redis");
  c.reply.Bulk("version");
  c.reply.Bulk(kRedisVersion);
  c.reply.Bulk("proto");
  c.reply.Integer(ver);
  c.reply.Bulk("id");
  c.reply.Integer(static_cast<int64_t>(cl->id()));
  c.reply.Bulk("mode");
  c.reply.Bulk("standalone");
  c.reply.Bulk("role");
  c.reply.Bulk("master");
  c.reply.Bulk("modules");
  c.reply.Array(0);
}

void CmdSelect(CommandContext& c) {
  int64_t id;
  if (!ParseInt64(c.argv[1], &id) || id < INT32_MIN || id > INT32_MAX) {
    c.reply.Error("ERR invalid DB index");
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
  Client* cl = c.client;
  cl->in_multi = false;
  cl->multi_error = false;
  cl->multi_queue.clear();
  cl->watched.clear();
  cl->name.clear();
  cl->no_evict = false;
  cl->resp = 2;
  c.reply.set_resp(2);
  cl->authenticated = c.server.config().requirepass().empty();
  c.reply.Simple("RESET");
}

// --- CLIENT ----------------------------------------------------------------------------------

std::string ClientInfoLine(const Client& cl, int64_t now_ms) {
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
  bool pause = c.server.worker_count() > 1;
  if (pause && !c.server.PauseOthers(c.worker)) {
    c.reply.Error("ERR the server is shutting down");
    return false;
  }
  for (int i = 0; i < c.server.worker_count(); i++) {
    std::vector<Client*> clients;
    for (const auto& [id, cl] : c.server.worker(i).clients()) clients.push_back(cl);
    std::sort(clients.begin(), clients.end(),
              [](Client* a, Client* b) { return a->id() < b->id(); });
    for (Client* cl : clients) fn(cl);
  }
  if (pause) c.server.ResumeOthers();
  return true;
}

// Kills `cl` for CLIENT KILL. As in Redis the kill is synchronous: a client of this loop is
// closed now (the cron would only get to it later, after it may have run more commands); a
// client of another loop (paused by ForEachClient) is closed by its loop as it resumes; the
// caller itself is closed after this reply.
void KillClient(CommandContext& c, Client* cl) {
  if (cl != c.client && cl->worker() == &c.worker) {
    c.worker.CloseClient(cl);
    return;
  }
  cl->kill_requested = true;
}

void CmdClientSetName(CommandContext& c) {
  if (!ValidClientName(c.argv[2])) {
    c.reply.Error("ERR Client names cannot contain spaces, newlines or special characters.");
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
    c.reply.Error("ERR Unrecognized option '" + c.argv[2] + "'");
    return;
  }
  if (!ValidClientName(c.argv[3])) {
    c.reply.Error("ERR " + attr + " cannot contain spaces, newlines or special characters.");
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
        c.reply.Error("ERR Unknown client type '" + c.argv[i] + "'");
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
          c.reply.Error("ERR Invalid client ID");
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
  bool ok = ForEachClient(c, [&](Client* cl) {
    if (!ids.empty() && std::find(ids.begin(), ids.end(), cl->id()) == ids.end()) return;
    out += ClientInfoLine(*cl, now) + "\n";
  });
  if (ok) c.reply.Verbatim(out);
}

void CmdClientKill(CommandContext& c) {
  // Old form: CLIENT KILL ip:port.
  if (c.argv.size() == 3) {
    bool found = false;
    std::string target = c.argv[2];
    bool ok = ForEachClient(c, [&](Client* cl) {
      if (!found && cl->addr == target) {
        found = true;
        KillClient(c, cl);
      }
    });
    if (!ok) return;
    if (!found) {
      c.reply.Error("ERR No such client");
      return;
    }
    c.reply.Ok();
    if (c.client->kill_requested) c.client->close_after_reply = true;
    return;
  }
  if (c.argv.size() % 2 != 0) {
    c.reply.Error(err::kSyntax);
    return;
  }
  int64_t id = -1;
  std::string addr, laddr, type, user;
  bool skipme = true;
  for (size_t i = 2; i + 1 < c.argv.size(); i += 2) {
    std::string opt = ToLower(c.argv[i]);
    const std::string& v = c.argv[i + 1];
    if (opt == "id") {
      if (!ParseInt64(v, &id) || id <= 0) {
        c.reply.Error("ERR client-id should be greater than 0");
        return;
      }
    } else if (opt == "addr") {
      addr = v;
    } else if (opt == "laddr") {
      laddr = v;
    } else if (opt == "type") {
      type = ToLower(v);
      if (type != "normal" && type != "master" && type != "replica" && type != "slave" &&
          type != "pubsub") {
        c.reply.Error("ERR Unknown client type '" + v + "'");
        return;
      }
    } else if (opt == "user") {
      user = v;
    } else if (opt == "skipme") {
      std::string b = ToLower(v);
      if (b == "yes") {
        skipme = true;
      } else if (b == "no") {
        skipme = false;
      } else {
        c.reply.Error(err::kSyntax);
        return;
      }
    } else if (opt == "maxage") {
      int64_t ignored;
      if (!ParseInt64(v, &ignored)) {
        c.reply.Error(err::kNotInteger);
        return;
      }
    } else {
      c.reply.Error(err::kSyntax);
      return;
    }
  }
  int64_t killed = 0;
  bool ok = ForEachClient(c, [&](Client* cl) {
    if (id != -1 && cl->id() != static_cast<uint64_t>(id)) return;
    if (!addr.empty() && cl->addr != addr) return;
    if (!laddr.empty() && cl->laddr != laddr) return;
    if (!type.empty() && type != "normal") return;
    if (!user.empty() && user != "default") return;
    if (cl == c.client && skipme) return;
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
