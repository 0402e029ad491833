// The command table: every declaration is complete and consistent, because dispatch, arity
// errors, routing, COMMAND and COMMAND DOCS all read it.
#include <catch2/catch.hpp>
#include <cctype>
#include <set>
#include <string>

#include "commands/command.h"

using namespace dynis;

namespace {

void CheckSpec(const CommandSpec& s, std::set<std::string>* names) {
  INFO("command " << s.name);
  std::string name = s.name;
  REQUIRE(!name.empty());
  for (char c : name) REQUIRE_FALSE(std::isupper(static_cast<unsigned char>(c)));
  REQUIRE(names->insert(name).second);  // no duplicates
  REQUIRE(s.arity != 0);
  REQUIRE(s.summary != nullptr);
  REQUIRE(std::string(s.summary).size() > 0);
  REQUIRE(s.since != nullptr);
  REQUIRE(s.group != nullptr);
  REQUIRE(s.complexity != nullptr);
  // A handler, or subcommands to dispatch to, never neither.
  REQUIRE((s.handler != nullptr || !s.subcommands.empty()));
  if (s.first_key > 0) {
    REQUIRE(s.key_step >= 1);
    // The keys fit in the smallest call the arity allows.
    int min_argc = s.arity > 0 ? s.arity : -s.arity;
    REQUIRE(s.first_key < min_argc);
    if (s.last_key > 0) REQUIRE(s.last_key >= s.first_key);
    // Key commands never need the connection: they may run on another io-thread.
    REQUIRE((s.flags & kCmdConn) == 0);
  }
  REQUIRE_FALSE(((s.flags & kCmdWrite) && (s.flags & kCmdReadOnly)));
  for (const auto& sub : s.subcommands) {
    REQUIRE(std::string(sub.name).rfind(name + "|", 0) == 0);
    CheckSpec(sub, names);
  }
}

std::vector<std::string> Argv(std::initializer_list<const char*> a) {
  return std::vector<std::string>(a.begin(), a.end());
}

}  // namespace

TEST_CASE("every command declaration is complete and consistent", "[commands]") {
  std::set<std::string> names;
  REQUIRE(AllCommands().size() > 60);
  for (const CommandSpec* s : AllCommands()) CheckSpec(*s, &names);
}

TEST_CASE("the arity table matches Redis 7 for the commands clients rely on", "[commands]") {
  struct Row {
    const char* name;
    int arity;
    int first, last, step;
  } rows[] = {
      {"get", 2, 1, 1, 1},     {"set", -3, 1, 1, 1},    {"mget", -2, 1, -1, 1},
      {"mset", -3, 1, -1, 2},  {"del", -2, 1, -1, 1},   {"incr", 2, 1, 1, 1},
      {"expire", -3, 1, 1, 1}, {"rename", 3, 1, 2, 1},  {"ping", -1, 0, 0, 0},
      {"hello", -1, 0, 0, 0},  {"auth", -2, 0, 0, 0},   {"select", 2, 0, 0, 0},
      {"scan", -2, 0, 0, 0},   {"keys", 2, 0, 0, 0},    {"exec", 1, 0, 0, 0},
      {"getctx", -2, 1, 1, 1}, {"setctx", -4, 1, 1, 1}, {"delctx", -3, 1, 1, 1},
      {"copy", -3, 1, 2, 1},   {"getex", -2, 1, 1, 1},  {"setrange", 4, 1, 1, 1},
  };
  for (const Row& r : rows) {
    INFO(r.name);
    const CommandSpec* s = LookupCommand(r.name);
    REQUIRE(s != nullptr);
    REQUIRE(s->arity == r.arity);
    REQUIRE(s->first_key == r.first);
    REQUIRE(s->last_key == r.last);
    REQUIRE(s->key_step == r.step);
  }
}

TEST_CASE("lookup is case-insensitive and finds subcommands", "[commands]") {
  REQUIRE(LookupCommand("GeT") == LookupCommand("get"));
  REQUIRE(LookupCommand("nosuchcommand") == nullptr);
  const CommandSpec* config = LookupCommand("CONFIG");
  REQUIRE(config != nullptr);
  const CommandSpec* get = LookupSubcommand(*config, "GET");
  REQUIRE(get != nullptr);
  REQUIRE(std::string(get->name) == "config|get");
  REQUIRE(LookupSubcommand(*config, "nope") == nullptr);
  for (const char* sub :
       {"setname", "getname", "setinfo", "id", "info", "list", "kill", "no-evict"}) {
    INFO(sub);
    REQUIRE(LookupSubcommand(*LookupCommand("client"), sub) != nullptr);
  }
}

TEST_CASE("key positions follow first, last and step", "[commands]") {
  REQUIRE(CommandKeyPositions(*LookupCommand("get"), Argv({"get", "k"})) == std::vector<int>{1});
  REQUIRE(CommandKeyPositions(*LookupCommand("mset"), Argv({"mset", "a", "1", "b", "2"})) ==
          std::vector<int>{1, 3});
  REQUIRE(CommandKeyPositions(*LookupCommand("del"), Argv({"del", "a", "b", "c"})) ==
          std::vector<int>{1, 2, 3});
  REQUIRE(CommandKeyPositions(*LookupCommand("set"), Argv({"set", "k", "v", "EX", "10"})) ==
          std::vector<int>{1});
  REQUIRE(CommandKeyPositions(*LookupCommand("copy"), Argv({"copy", "a", "b", "REPLACE"})) ==
          std::vector<int>{1, 2});
  REQUIRE(CommandKeyPositions(*LookupCommand("ping"), Argv({"ping"})).empty());
}

TEST_CASE("multi-key commands declare how their per-key parts combine", "[commands]") {
  REQUIRE((LookupCommand("mget")->flags & kCmdSplitArray));
  REQUIRE((LookupCommand("mset")->flags & kCmdSplitOk));
  for (const char* n : {"del", "unlink", "exists", "touch"}) {
    INFO(n);
    REQUIRE((LookupCommand(n)->flags & kCmdSplitSum));
  }
  // MSETNX is all-or-nothing: it must not be split.
  REQUIRE_FALSE((LookupCommand("msetnx")->flags & (kCmdSplitSum | kCmdSplitArray | kCmdSplitOk)));
  REQUIRE_FALSE((LookupCommand("rename")->flags & (kCmdSplitSum | kCmdSplitArray | kCmdSplitOk)));
}

// Redis 7 has two different things: the commands it runs at once inside MULTI (decided by
// name) and the no-multi flag of the commands it refuses inside MULTI (redis-server 7.0's
// COMMAND INFO: SHUTDOWN, SAVE, SYNC, PSYNC; dynis has SHUTDOWN).
TEST_CASE("inside MULTI: which commands run at once, which are refused", "[commands][multi]") {
  std::set<std::string> not_queued;
  std::set<std::string> no_multi;
  auto collect = [&](const CommandSpec& s) {
    if (s.flags & kCmdNotQueued) not_queued.insert(s.name);
    if (s.flags & kCmdNoMulti) no_multi.insert(s.name);
    REQUIRE_FALSE(((s.flags & kCmdNotQueued) && (s.flags & kCmdNoMulti)));
  };
  for (const CommandSpec* s : AllCommands()) {
    INFO(s->name);
    collect(*s);
    for (const CommandSpec& sub : s->subcommands) collect(sub);
  }
  CHECK(not_queued == std::set<std::string>{"exec", "discard", "multi", "watch", "quit", "reset"});
  CHECK(no_multi == std::set<std::string>{"shutdown"});
  // The peers' verbs (not in COMMAND) are never queued either: refused inside MULTI.
  for (const char* verb :
       {"dynis.hello", "dynis.auth", "dynis.meet", "dynis.getrec", "dynis.putrec", "dynis.fwd"}) {
    INFO(verb);
    const CommandSpec* s = LookupCommand(verb);
    REQUIRE(s != nullptr);
    CHECK((s->flags & kCmdInternal));
    CHECK((s->flags & kCmdNoMulti));
  }
}
