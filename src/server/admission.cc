// The checks a parsed command passes before it runs (admission.h). What passes is routed
// (routing.cc).
#include "server/admission.h"

#include <algorithm>
#include <cctype>

#include "commands/util.h"
#include "common/errors.h"
#include "common/log.h"
#include "server/server.h"

namespace dynis::server {

namespace {

// Whether `name` is a command (client or node-to-node) with `flag` in the table.
bool HasFlag(const std::string& name, uint32_t flag) {
  const CommandSpec* spec = LookupCommand(name);
  return spec != nullptr && (spec->flags & flag) != 0;
}

// A peer forwarding a client's command to a replica of its key: it runs here as if a client
// of this node sent it, with the client's protocol version, and is coordinated here.
bool UnwrapForwarded(Client* c, std::vector<std::string>& argv) {
  if (!c->peer_port || argv.size() < 3 || !HasFlag(argv[0], kCmdPeerForward)) return false;
  c->resp = argv[1] == "3" ? 3 : 2;
  argv.erase(argv.begin(), argv.begin() + 2);
  return true;
}

std::string UnknownCommandError(const std::vector<std::string>& argv) {
  std::string msg = err::kUnknownCommand + argv[0].substr(0, 128) + err::kUnknownCommandArgs;
  for (size_t i = 1; i < argv.size() && msg.size() < 128; i++) {
    msg += "'" + argv[i].substr(0, 128 - std::min<size_t>(128, msg.size())) + "' ";
  }
  return msg;
}

std::string UnknownSubcommandError(const CommandSpec& spec, const std::string& sub) {
  std::string upper(spec.name);
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return err::kUnknownSubcommand + sub.substr(0, 128) + err::kUnknownSubcommandTry + upper +
         err::kUnknownSubcommandHelp;
}

std::string WrongArityError(const CommandSpec& spec) { return err::WrongArity(spec.name); }

}  // namespace

bool Worker::Dispatch(Client* c, std::vector<std::string>& argv) {
  Admission a = RefuseHttp(c, argv);
  if (a == Admission::kRun) a = GatePeer(c, argv);
  bool forwarded = a == Admission::kRun && UnwrapForwarded(c, argv);
  const CommandSpec* spec = nullptr;
  if (a == Admission::kRun) a = LookUp(c, argv, &spec);
  if (a == Admission::kRun) a = CheckArity(c, *spec, argv);
  if (a == Admission::kRun) a = CheckAuth(c, *spec);
  if (a == Admission::kRun) a = QueueInMulti(c, *spec, argv);
  if (a == Admission::kRun) a = AnswerQuit(c, *spec);
  if (a != Admission::kRun) return a == Admission::kAnswered;
  return Route(c, spec, argv, forwarded);
}

Admission Worker::Refuse(Client* c, const std::string& msg) {
  std::string out;
  proto::ReplyWriter w(&out);
  w.Error(msg);
  AppendReply(c, out);
  if (c->in_multi) c->multi_error = true;
  return Admission::kAnswered;
}

// A browser or an HTTP proxy talking to us: Redis closes at once (cross-protocol scripting).
// About the raw input, not a command: decided by the first word.
inline Admission Worker::RefuseHttp(Client* c, const std::vector<std::string>& argv) {
  if (!EqualsIgnoreCase(argv[0], "post") && !EqualsIgnoreCase(argv[0], "host:")) {
    return Admission::kRun;
  }
  LOG_WARNING(
      "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: "
      "commands to dynis. Connection from %s aborted.",
      c->addr.c_str());
  CloseClient(c);
  return Admission::kStop;
}

// A node on the cluster port proves the cluster secret before anything else is served.
inline Admission Worker::GatePeer(Client* c, const std::vector<std::string>& argv) {
  if (!c->peer_port || c->peer_authenticated || HasFlag(argv[0], kCmdPeerHandshake)) {
    return Admission::kRun;
  }
  AppendReply(c, std::string("-") + err::kPeerPortNoAuth + "\r\n");
  c->close_after_reply = true;
  return Admission::kStop;
}

// The command, and its subcommand when it has them: a client does not see the node-to-node
// verbs.
inline Admission Worker::LookUp(Client* c, const std::vector<std::string>& argv, const CommandSpec** out) {
  const CommandSpec* spec = c->peer_port ? LookupCommand(argv[0]) : LookupClientCommand(argv[0]);
  if (spec == nullptr) return Refuse(c, UnknownCommandError(argv));
  if (!spec->subcommands.empty() && argv.size() >= 2) {
    const CommandSpec* sub = LookupSubcommand(*spec, argv[1]);
    if (sub == nullptr) return Refuse(c, UnknownSubcommandError(*spec, argv[1]));
    spec = sub;
  }
  *out = spec;
  return Admission::kRun;
}

inline Admission Worker::CheckArity(Client* c, const CommandSpec& spec,
                             const std::vector<std::string>& argv) {
  int argc = static_cast<int>(argv.size());
  if ((spec.arity > 0 && argc != spec.arity) || argc < -spec.arity) {
    return Refuse(c, WrongArityError(spec));
  }
  if (spec.key_step > 1 && (argc - spec.first_key) % spec.key_step != 0) {
    // MSET a 1 b: Redis checks the pairs in the handler with the arity error's text.
    return Refuse(c, WrongArityError(spec));
  }
  return Admission::kRun;
}

inline Admission Worker::CheckAuth(Client* c, const CommandSpec& spec) {
  if (c->authenticated || (spec.flags & kCmdNoAuth)) return Admission::kRun;
  if (!server_->config().requirepass().empty()) return Refuse(c, err::kNoAuth);
  c->authenticated = true;  // the password was removed by CONFIG SET
  return Admission::kRun;
}

inline Admission Worker::QueueInMulti(Client* c, const CommandSpec& spec,
                               const std::vector<std::string>& argv) {
  if (!c->in_multi) return Admission::kRun;
  if (spec.flags & kCmdNoMulti) {
    return Refuse(c, err::kNoMulti);  // and the transaction is marked: EXEC answers EXECABORT
  }
  if (spec.flags & kCmdNotQueued) return Admission::kRun;
  c->multi_queue.push_back(argv);
  AppendReply(c, "+QUEUED\r\n");
  return Admission::kAnswered;
}

inline Admission Worker::AnswerQuit(Client* c, const CommandSpec& spec) {
  if (!(spec.flags & kCmdQuit)) return Admission::kRun;
  AppendReply(c, "+OK\r\n");
  c->close_after_reply = true;
  return Admission::kStop;
}

}  // namespace dynis::server
