// The command table and the COMMAND command, which renders it (COUNT, INFO, DOCS, LIST,
// GETKEYS) in Redis 7's reply shapes.
#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "commands/command.h"
#include "commands/util.h"
#include "common/errors.h"
#include "common/glob.h"

namespace dynis {

namespace {

void CmdCommand(CommandContext& c);
void CmdCommandCount(CommandContext& c);
void CmdCommandInfo(CommandContext& c);
void CmdCommandDocs(CommandContext& c);
void CmdCommandList(CommandContext& c);
void CmdCommandGetKeys(CommandContext& c);
void CmdCommandHelp(CommandContext& c);

void RegisterCommandCommand(std::vector<CommandSpec>* out) {
  const uint32_t f = kCmdConn | kCmdLoading | kCmdStale;
  out->push_back(CommandSpec{
      "command",
      -1,
      f,
      0,
      0,
      0,
      CmdCommand,
      "server",
      "Get array of Redis command details",
      "2.8.13",
      "O(N) where N is the total number of commands",
      {},
      {
          {"command|count", 2, f, 0, 0, 0, CmdCommandCount, "server",
           "Get total number of Redis commands", "2.8.13", "O(1)"},
          {"command|info",
           -2,
           f,
           0,
           0,
           0,
           CmdCommandInfo,
           "server",
           "Get array of specific Redis command details, or all when no argument is given.",
           "2.8.13",
           "O(N) where N is the number of commands to look up",
           {{"command-name", "string", nullptr, true, true}}},
          {"command|docs",
           -2,
           f,
           0,
           0,
           0,
           CmdCommandDocs,
           "server",
           "Get array of specific Redis command documentation",
           "7.0.0",
           "O(N) where N is the number of commands to look up",
           {{"command-name", "string", nullptr, true, true}}},
          {"command|list",
           -2,
           f,
           0,
           0,
           0,
           CmdCommandList,
           "server",
           "Get an array of Redis command names",
           "7.0.0",
           "O(N) where N is the total number of Redis commands",
           {{"filterby",
             "oneof",
             "FILTERBY",
             true,
             false,
             {{"module-name", "string", "MODULE"},
              {"category", "string", "ACLCAT"},
              {"pattern", "pattern", "PATTERN"}}}}},
          {"command|getkeys",
           -3,
           f,
           0,
           0,
           0,
           CmdCommandGetKeys,
           "server",
           "Extract keys given a full Redis command",
           "2.8.13",
           "O(N) where N is the number of arguments to the command",
           {{"command", "string"}, {"arg", "string", nullptr, true, true}}},
          {"command|help", 2, f, 0, 0, 0, CmdCommandHelp, "server",
           "Show helpful text about the different subcommands", "5.0.0", "O(1)"},
      },
      "@slow @connection"});
}

struct Table {
  std::vector<CommandSpec> specs;
  std::unordered_map<std::string_view, const CommandSpec*> by_name;  // keys: spec.name
  std::vector<const CommandSpec*> all;

  Table() {
    RegisterConnectionCommands(&specs);
    RegisterServerCommands(&specs);
    RegisterDynisCommands(&specs);
    RegisterStringCommands(&specs);
    RegisterKeyCommands(&specs);
    RegisterTransactionCommands(&specs);
    RegisterContextCommands(&specs);
    RegisterClusterCommands(&specs);
    RegisterDebugCommands(&specs);
    RegisterCommandCommand(&specs);
    for (const auto& s : specs) {
      by_name[s.name] = &s;
      if (!(s.flags & kCmdInternal)) all.push_back(&s);  // peers' verbs stay out of COMMAND
    }
    std::sort(all.begin(), all.end(), [](const CommandSpec* a, const CommandSpec* b) {
      return std::string(a->name) < b->name;
    });
  }
};

const Table& GetTable() {
  static const Table table;
  return table;
}

}  // namespace

bool ReplyIfError(CommandContext& c, const Status& s) {
  if (s.ok()) return false;
  if (s.code() == Status::Code::kError) {
    c.reply.Error(s.message());
  } else {
    c.reply.Error(std::string(err::kIoError) + " " + s.message());
  }
  return true;
}

const CommandSpec* LookupCommand(std::string_view name) {
  // Lower-cased into a stack buffer: this runs for every command.
  char buf[32];
  if (name.size() > sizeof(buf)) return nullptr;  // longer than any command name
  for (size_t i = 0; i < name.size(); i++) {
    buf[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[i])));
  }
  const Table& t = GetTable();
  auto it = t.by_name.find(std::string_view(buf, name.size()));
  return it == t.by_name.end() ? nullptr : it->second;
}

const CommandSpec* LookupClientCommand(std::string_view name) {
  const CommandSpec* s = LookupCommand(name);
  return s != nullptr && (s->flags & kCmdInternal) ? nullptr : s;
}

const CommandSpec* LookupSubcommand(const CommandSpec& parent, std::string_view sub) {
  std::string full = std::string(parent.name) + "|" + ToLower(sub);
  for (const auto& s : parent.subcommands) {
    if (full == s.name) return &s;
  }
  return nullptr;
}

const std::vector<const CommandSpec*>& AllCommands() { return GetTable().all; }

std::vector<int> CommandKeyPositions(const CommandSpec& spec,
                                     const std::vector<std::string>& argv) {
  std::vector<int> keys;
  if (spec.first_key <= 0) return keys;
  int argc = static_cast<int>(argv.size());
  int last = spec.last_key < 0 ? argc + spec.last_key : spec.last_key;
  int step = spec.key_step > 0 ? spec.key_step : 1;
  for (int i = spec.first_key; i <= last && i < argc; i += step) keys.push_back(i);
  return keys;
}

std::vector<std::string> CommandKeyPart(const CommandSpec& spec,
                                        const std::vector<std::string>& argv, size_t i) {
  size_t step = spec.key_step > 0 ? static_cast<size_t>(spec.key_step) : 1;
  size_t first = static_cast<size_t>(spec.first_key) + i * step;
  std::vector<std::string> sub;
  sub.reserve(1 + step);
  sub.push_back(argv[0]);
  for (size_t j = 0; j < step; j++) sub.push_back(argv[first + j]);
  return sub;
}

namespace {

std::string ShortName(const CommandSpec& s) {
  std::string n = s.name;
  size_t bar = n.find('|');
  return bar == std::string::npos ? n : n;
}

std::vector<std::string> FlagNames(uint32_t f) {
  std::vector<std::string> r;
  if (f & kCmdWrite) r.push_back("write");
  if (f & kCmdReadOnly) r.push_back("readonly");
  if (f & kCmdAdmin) r.push_back("admin");
  if (f & kCmdNoScript) r.push_back("noscript");
  if (f & kCmdLoading) r.push_back("loading");
  if (f & kCmdStale) r.push_back("stale");
  if (f & kCmdNoAuth) r.push_back("no_auth");
  if (f & kCmdFast) r.push_back("fast");
  if (f & kCmdNoMulti) r.push_back("no_multi");
  return r;
}

std::vector<std::string> Split(const char* s) {
  std::vector<std::string> r;
  std::string cur;
  for (const char* p = s; *p; p++) {
    if (*p == ' ') {
      if (!cur.empty()) r.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(*p);
    }
  }
  if (!cur.empty()) r.push_back(cur);
  return r;
}

void ReplyInfo(proto::ReplyWriter& w, const CommandSpec& s) {
  w.Array(10);
  w.Bulk(ShortName(s));
  w.Integer(s.arity);
  auto flags = FlagNames(s.flags);
  w.Set(flags.size());
  for (const auto& f : flags) w.Simple(f);
  w.Integer(s.first_key);
  w.Integer(s.first_key == 0 ? 0 : s.last_key);
  w.Integer(s.first_key == 0 ? 0 : s.key_step);
  auto cats = Split(s.acl_categories);
  w.Set(cats.size());
  for (const auto& c : cats) w.Simple(c);
  w.Set(0);  // tips
  if (s.first_key > 0) {
    // One key spec: begin at an index, then a range (Redis 7's key_specs shape).
    w.Array(1);
    w.Map(3);
    w.Bulk("flags");
    w.Set(1);
    w.Simple((s.flags & kCmdWrite) ? "RW" : "RO");
    w.Bulk("begin_search");
    w.Map(2);
    w.Bulk("type");
    w.Bulk("index");
    w.Bulk("spec");
    w.Map(1);
    w.Bulk("index");
    w.Integer(s.first_key);
    w.Bulk("find_keys");
    w.Map(2);
    w.Bulk("type");
    w.Bulk("range");
    w.Bulk("spec");
    w.Map(3);
    w.Bulk("lastkey");
    w.Integer(s.last_key < 0 ? s.last_key : s.last_key - s.first_key);
    w.Bulk("keystep");
    w.Integer(s.key_step);
    w.Bulk("limit");
    w.Integer(0);
  } else {
    w.Array(0);
  }
  w.Array(s.subcommands.size());
  for (const auto& sub : s.subcommands) ReplyInfo(w, sub);
}

void ReplyArgs(proto::ReplyWriter& w, const std::vector<ArgDoc>& args, int* key_index) {
  w.Array(args.size());
  for (const ArgDoc& a : args) {
    bool is_key = std::string(a.type) == "key";
    bool nested = !a.children.empty();
    int n = 2 + (is_key ? 1 : 0) + (a.token ? 1 : 0) + ((a.optional || a.multiple) ? 1 : 0) +
            (nested ? 1 : 0);
    w.Map(n);
    w.Bulk("name");
    w.Bulk(a.name);
    w.Bulk("type");
    w.Bulk(a.type);
    if (is_key) {
      w.Bulk("key_spec_index");
      w.Integer(0);
      (*key_index)++;
    }
    if (a.token) {
      w.Bulk("token");
      w.Bulk(a.token);
    }
    if (a.optional || a.multiple) {
      w.Bulk("flags");
      w.Set((a.optional ? 1 : 0) + (a.multiple ? 1 : 0));
      if (a.optional) w.Simple("optional");
      if (a.multiple) w.Simple("multiple");
    }
    if (nested) {
      w.Bulk("arguments");
      ReplyArgs(w, a.children, key_index);
    }
  }
}

void ReplyDocs(proto::ReplyWriter& w, const CommandSpec& s) {
  int n = 4 + (s.args.empty() ? 0 : 1) + (s.subcommands.empty() ? 0 : 1);
  w.Map(n);
  w.Bulk("summary");
  w.Bulk(s.summary);
  w.Bulk("since");
  w.Bulk(s.since);
  w.Bulk("group");
  w.Bulk(s.group);
  w.Bulk("complexity");
  w.Bulk(s.complexity);
  if (!s.args.empty()) {
    w.Bulk("arguments");
    int key_index = 0;
    ReplyArgs(w, s.args, &key_index);
  }
  if (!s.subcommands.empty()) {
    w.Bulk("subcommands");
    w.Map(s.subcommands.size());
    for (const auto& sub : s.subcommands) {
      w.Bulk(sub.name);
      ReplyDocs(w, sub);
    }
  }
}

void CmdCommand(CommandContext& c) {
  const auto& all = AllCommands();
  c.reply.Array(all.size());
  for (const CommandSpec* s : all) ReplyInfo(c.reply, *s);
}

void CmdCommandCount(CommandContext& c) { c.reply.Integer(AllCommands().size()); }

void CmdCommandInfo(CommandContext& c) {
  if (c.argv.size() == 2) {
    CmdCommand(c);
    return;
  }
  c.reply.Array(c.argv.size() - 2);
  for (size_t i = 2; i < c.argv.size(); i++) {
    const CommandSpec* s = LookupClientCommand(c.argv[i]);
    if (s == nullptr) {
      c.reply.NullArray();
    } else {
      ReplyInfo(c.reply, *s);
    }
  }
}

void CmdCommandDocs(CommandContext& c) {
  std::vector<const CommandSpec*> specs;
  if (c.argv.size() == 2) {
    specs = AllCommands();
  } else {
    for (size_t i = 2; i < c.argv.size(); i++) {
      const CommandSpec* s = LookupClientCommand(c.argv[i]);
      if (s != nullptr) specs.push_back(s);
    }
  }
  c.reply.Map(specs.size());
  for (const CommandSpec* s : specs) {
    c.reply.Bulk(s->name);
    ReplyDocs(c.reply, *s);
  }
}

void CmdCommandList(CommandContext& c) {
  std::vector<std::string> names;
  bool filter = c.argv.size() > 2;
  if (filter && (c.argv.size() != 5 || ToLower(c.argv[2]) != "filterby")) {
    c.reply.Error(err::kSyntax);
    return;
  }
  std::string kind = filter ? ToLower(c.argv[3]) : "";
  if (filter && kind != "module" && kind != "aclcat" && kind != "pattern") {
    c.reply.Error(err::kSyntax);
    return;
  }
  auto consider = [&](const CommandSpec& s) {
    if (!filter) {
      names.push_back(s.name);
    } else if (kind == "pattern") {
      if (GlobMatch(c.argv[4], s.name, true)) names.push_back(s.name);
    } else if (kind == "aclcat") {
      for (const auto& cat : Split(s.acl_categories)) {
        if (cat == "@" + ToLower(c.argv[4])) names.push_back(s.name);
      }
    }
  };
  for (const CommandSpec* s : AllCommands()) {
    consider(*s);
    for (const auto& sub : s->subcommands) consider(sub);
  }
  c.reply.Array(names.size());
  for (const auto& n : names) c.reply.Bulk(n);
}

void CmdCommandGetKeys(CommandContext& c) {
  std::vector<std::string> argv(c.argv.begin() + 2, c.argv.end());
  const CommandSpec* s = LookupClientCommand(argv[0]);
  if (s == nullptr) {
    c.reply.Error(err::kInvalidCommandSpecified);
    return;
  }
  if (!s->subcommands.empty() && argv.size() >= 2) {
    const CommandSpec* sub = LookupSubcommand(*s, argv[1]);
    if (sub != nullptr) s = sub;
  }
  int argc = static_cast<int>(argv.size());
  if ((s->arity > 0 && argc != s->arity) || argc < -s->arity) {
    c.reply.Error(err::kInvalidArgCountSpecified);
    return;
  }
  std::vector<int> keys = CommandKeyPositions(*s, argv);
  if (keys.empty()) {
    c.reply.Error(err::kNoKeyArguments);
    return;
  }
  c.reply.Array(keys.size());
  for (int k : keys) c.reply.Bulk(argv[k]);
}

void CmdCommandHelp(CommandContext& c) {
  static const char* kLines[] = {
      "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "(no subcommand)",
      "    Return details about all dynis commands.",
      "COUNT",
      "    Return the total number of commands in this dynis server.",
      "LIST",
      "    Return a list of all commands in this dynis server.",
      "INFO [<command-name> ...]",
      "    Return details about multiple dynis commands.",
      "    If no command names are given, documentation details for all",
      "    commands are returned.",
      "DOCS [<command-name> ...]",
      "    Return documentation details about multiple dynis commands.",
      "    If no command names are given, documentation details for all",
      "    commands are returned.",
      "GETKEYS <full-command>",
      "    Return the keys from a full dynis command.",
      "HELP",
      "    Print this help.",
  };
  c.reply.Array(sizeof(kLines) / sizeof(kLines[0]));
  for (const char* l : kLines) c.reply.Simple(l);
}

}  // namespace

}  // namespace dynis
