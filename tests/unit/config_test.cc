// Unit tests for Config (src/config/config.h): table defaults, parsing of every type, file
// and flag errors, CONFIG GET / CONFIG SET semantics and texts, the shipped conf file.
// Run from the repository root (the shipped-config test reads conf/dynis.conf).
#include "config/config.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <climits>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using dynis::Config;
using dynis::DebugCommand;
using dynis::FsyncPolicy;
using dynis::LogLevel;
using dynis::ParseMemory;
using dynis::SplitConfigLine;
using dynis::Status;

namespace {

std::map<std::string, std::string> GetMap(const Config& c, const std::string& pattern) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : c.Get(pattern)) out[name] = value;
  return out;
}

std::string Get1(const Config& c, const std::string& name) {
  auto v = c.Get(name);
  REQUIRE(v.size() == 1);
  return v[0].second;
}

std::string LoadError(const std::string& text) {
  Config c;
  Status s = c.LoadString(text, "conf/x.conf");
  REQUIRE_FALSE(s.ok());
  return s.message();
}

}  // namespace

TEST_CASE("config: defaults", "[config]") {
  Config c;
  CHECK(c.bind() == std::vector<std::string>{"127.0.0.1", "-::1"});
  CHECK(c.port() == 6379);
  CHECK(c.protected_mode());
  CHECK(c.requirepass().empty());
  CHECK(c.dir() == "./data");
  CHECK(c.io_threads() == 0);
  CHECK(c.maxclients() == 10000);
  CHECK(c.timeout_s() == 0);
  CHECK(c.tcp_backlog() == 511);
  CHECK(c.tcp_keepalive() == 300);
  CHECK(c.loglevel() == LogLevel::kNotice);
  CHECK(c.logfile().empty());
  CHECK(c.pidfile().empty());
  CHECK(c.fsync() == FsyncPolicy::kEverySec);
  CHECK(c.appendonly());
  CHECK(c.save().empty());
  CHECK(c.databases() == 1);
  CHECK(c.proto_max_bulk_len() == 512LL * 1024 * 1024);
  CHECK(c.client_query_buffer_limit() == 1024LL * 1024 * 1024);
  CHECK(c.output_limit_normal_hard() == 256LL * 1024 * 1024);
  CHECK(c.output_limit_normal_soft() == 64LL * 1024 * 1024);
  CHECK(c.output_limit_normal_soft_seconds() == 60);
  CHECK(c.partitions() == 256);
  CHECK(c.max_object_size() == 1024 * 1024);
  CHECK(c.sibling_warn() == 25);
  CHECK(c.sibling_max() == 100);
  CHECK(c.tombstone_grace_s() == 3600);
  CHECK(c.node_id().empty());
  CHECK(c.block_cache_size() == 256LL * 1024 * 1024);
  CHECK(c.write_buffer_size() == 64LL * 1024 * 1024);
  CHECK(c.Validate().ok());

  CHECK(Get1(c, "client-output-buffer-limit") ==
        "normal 268435456 67108864 60 replica 268435456 67108864 60 pubsub 33554432 8388608 60");
  CHECK(Get1(c, "bind") == "127.0.0.1 -::1");
  CHECK(Get1(c, "protected-mode") == "yes");
  CHECK(Get1(c, "loglevel") == "notice");
  CHECK(Get1(c, "fsync") == "everysec");
  CHECK(Get1(c, "appendfsync") == "everysec");
  CHECK(Get1(c, "proto-max-bulk-len") == "536870912");
  CHECK(Get1(c, "requirepass") == "");
  CHECK(Get1(c, "save") == "");
}

TEST_CASE("config: Names lists the table once each, aliases excluded", "[config]") {
  Config c;
  std::vector<std::string> names = c.Names();
  std::set<std::string> unique(names.begin(), names.end());
  CHECK(unique.size() == names.size());
  CHECK(names.size() == 50);
  CHECK(unique.count("fsync") == 1);
  CHECK(unique.count("appendfsync") == 0);
  // CONFIG GET * shows every name plus the alias.
  CHECK(c.Get("*").size() == names.size() + 1);
}

TEST_CASE("config: SplitConfigLine follows sdssplitargs", "[config]") {
  auto split = [](const std::string& line) {
    auto r = SplitConfigLine(line);
    REQUIRE(r.ok());
    return *r;
  };
  using V = std::vector<std::string>;
  CHECK(split("port 6379") == V{"port", "6379"});
  CHECK(split("  a \t b  ") == V{"a", "b"});
  CHECK(split("") == V{});
  CHECK(split("requirepass \"\"") == V{"requirepass", ""});
  CHECK(split("x \"a b\" 'c d'") == V{"x", "a b", "c d"});
  CHECK(split("x \"a\\tb\\n\\x41\\\"\"") == V{"x", "a\tb\nA\""});
  CHECK(split("x 'it\\'s'") == V{"x", "it's"});
  CHECK(split("x 'a\\nb'") == V{"x", "a\\nb"});  // no escapes in single quotes
  CHECK(split("x ab\"c d\"") == V{"x", "abc d"});
  CHECK_FALSE(SplitConfigLine("x \"abc").ok());
  CHECK_FALSE(SplitConfigLine("x 'abc").ok());
  CHECK_FALSE(SplitConfigLine("x \"abc\"def").ok());  // closing quote must end the arg
}

TEST_CASE("config: memory values parse like memtoll", "[config]") {
  int64_t v = 0;
  CHECK(ParseMemory("0", &v));
  CHECK(v == 0);
  CHECK(ParseMemory("12345", &v));
  CHECK(v == 12345);
  CHECK(ParseMemory("1b", &v));
  CHECK(v == 1);
  CHECK(ParseMemory("1k", &v));
  CHECK(v == 1000);
  CHECK(ParseMemory("1kb", &v));
  CHECK(v == 1024);
  CHECK(ParseMemory("2K", &v));
  CHECK(v == 2000);
  CHECK(ParseMemory("2KB", &v));
  CHECK(v == 2048);
  CHECK(ParseMemory("3m", &v));
  CHECK(v == 3000000);
  CHECK(ParseMemory("3Mb", &v));
  CHECK(v == 3 * 1024 * 1024);
  CHECK(ParseMemory("1g", &v));
  CHECK(v == 1000000000);
  CHECK(ParseMemory("1gB", &v));
  CHECK(v == 1024LL * 1024 * 1024);
  CHECK(ParseMemory("007", &v));
  CHECK(v == 7);
  CHECK(ParseMemory("-5mb", &v));
  CHECK(v == -5 * 1024 * 1024);
  CHECK_FALSE(ParseMemory("", &v));
  CHECK_FALSE(ParseMemory("mb", &v));
  CHECK_FALSE(ParseMemory("1tb", &v));
  CHECK_FALSE(ParseMemory("1 mb", &v));
  CHECK_FALSE(ParseMemory("1.5mb", &v));
  CHECK_FALSE(ParseMemory("+1", &v));
  CHECK_FALSE(ParseMemory("99999999999gb", &v));  // overflow
  CHECK_FALSE(ParseMemory("99999999999999999999", &v));
}

TEST_CASE("config: every type parses and checks bounds", "[config]") {
  Config c;
  // int
  CHECK(c.ApplyDirective("port", {"0"}).ok());
  CHECK(c.port() == 0);
  CHECK(c.ApplyDirective("port", {"65535"}).ok());
  CHECK(c.port() == 65535);
  CHECK(c.ApplyDirective("port", {"65536"}).message() ==
        "'port' argument must be between 0 and 65535 inclusive");
  CHECK(c.ApplyDirective("port", {"-1"}).message() ==
        "'port' argument must be between 0 and 65535 inclusive");
  CHECK(c.ApplyDirective("port", {"12a"}).message() ==
        "'port' argument couldn't be parsed into an integer");
  CHECK(c.ApplyDirective("port", {"+5"}).message() ==
        "'port' argument couldn't be parsed into an integer");
  CHECK(c.ApplyDirective("port", {""}).message() ==
        "'port' argument couldn't be parsed into an integer");
  CHECK(c.port() == 65535);
  CHECK(c.ApplyDirective("timeout", {std::to_string(INT_MAX)}).ok());
  CHECK(c.timeout_s() == INT_MAX);
  CHECK_FALSE(c.ApplyDirective("timeout", {"2147483648"}).ok());
  CHECK_FALSE(c.ApplyDirective("io-threads", {"65"}).ok());
  CHECK(c.ApplyDirective("io-threads", {"64"}).ok());
  CHECK(c.io_threads() == 64);
  CHECK_FALSE(c.ApplyDirective("databases", {"2"}).ok());
  CHECK_FALSE(c.ApplyDirective("databases", {"0"}).ok());
  CHECK_FALSE(c.ApplyDirective("partitions", {"0"}).ok());
  CHECK(c.ApplyDirective("partitions", {"65536"}).ok());
  CHECK(c.partitions() == 65536);
  CHECK_FALSE(c.ApplyDirective("maxclients", {"0"}).ok());
  CHECK_FALSE(c.ApplyDirective("sibling-max", {"100001"}).ok());

  // bool
  CHECK(c.ApplyDirective("protected-mode", {"no"}).ok());
  CHECK_FALSE(c.protected_mode());
  CHECK(c.ApplyDirective("protected-mode", {"YES"}).ok());
  CHECK(c.protected_mode());
  CHECK(c.ApplyDirective("protected-mode", {"1"}).message() ==
        "'protected-mode' argument must be 'yes' or 'no'");

  // enum
  CHECK(c.ApplyDirective("loglevel", {"debug"}).ok());
  CHECK(c.loglevel() == LogLevel::kDebug);
  CHECK(c.ApplyDirective("loglevel", {"WARNING"}).ok());
  CHECK(c.loglevel() == LogLevel::kWarning);
  CHECK(c.ApplyDirective("loglevel", {"nothing"}).ok());
  CHECK(c.loglevel() == LogLevel::kNothing);
  CHECK(c.ApplyDirective("loglevel", {"loud"}).message() ==
        "'loglevel' argument(s) must be one of the following: debug, verbose, notice, "
        "warning, nothing");
  CHECK(c.ApplyDirective("fsync", {"always"}).ok());
  CHECK(c.fsync() == FsyncPolicy::kAlways);
  CHECK(c.ApplyDirective("appendfsync", {"no"}).ok());
  CHECK(c.fsync() == FsyncPolicy::kNo);
  CHECK(Get1(c, "fsync") == "no");

  // memory
  CHECK(c.ApplyDirective("proto-max-bulk-len", {"1mb"}).ok());
  CHECK(c.proto_max_bulk_len() == 1024 * 1024);
  CHECK(c.ApplyDirective("proto-max-bulk-len", {"1048575"}).message() ==
        "'proto-max-bulk-len' argument must be between 1048576 and 9223372036854775807 "
        "inclusive");
  CHECK(c.ApplyDirective("proto-max-bulk-len", {"lots"}).message() ==
        "'proto-max-bulk-len' argument must be a memory value");
  CHECK(c.ApplyDirective("max-object-size", {"512mb"}).ok());
  CHECK_FALSE(c.ApplyDirective("max-object-size", {"513mb"}).ok());
  CHECK_FALSE(c.ApplyDirective("max-object-size", {"0"}).ok());
  CHECK(c.ApplyDirective("max-object-size", {"1"}).ok());
  CHECK(c.max_object_size() == 1);
  CHECK(c.ApplyDirective("rocksdb-block-cache-size", {"1gb"}).ok());
  CHECK(c.block_cache_size() == 1024LL * 1024 * 1024);
  CHECK(c.ApplyDirective("rocksdb-write-buffer-size", {"128MB"}).ok());
  CHECK(c.write_buffer_size() == 128LL * 1024 * 1024);
  CHECK(c.ApplyDirective("client-query-buffer-limit", {"2g"}).ok());
  CHECK(c.client_query_buffer_limit() == 2000000000LL);
  CHECK(Get1(c, "client-query-buffer-limit") == "2000000000");

  // strings
  CHECK(c.ApplyDirective("requirepass", {"s3cret pass"}).ok());
  CHECK(c.requirepass() == "s3cret pass");
  CHECK(Get1(c, "requirepass") == "s3cret pass");
  CHECK(c.ApplyDirective("dir", {"/var/lib/dynis"}).ok());
  CHECK(c.dir() == "/var/lib/dynis");
  CHECK(c.ApplyDirective("node-id", {"abc123"}).ok());
  CHECK(c.node_id() == "abc123");
  CHECK(c.ApplyDirective("logfile", {"/tmp/d.log"}).ok());
  CHECK(c.logfile() == "/tmp/d.log");
  CHECK(c.ApplyDirective("pidfile", {"/tmp/d.pid"}).ok());
  CHECK(c.pidfile() == "/tmp/d.pid");
  CHECK(c.ApplyDirective("requirepass", {"a", "b"}).message() ==
        "Bad directive or wrong number of arguments 'requirepass'");

  // lists
  CHECK(c.ApplyDirective("bind", {"0.0.0.0", "-::"}).ok());
  CHECK(c.bind() == std::vector<std::string>{"0.0.0.0", "-::"});
  CHECK(c.ApplyDirective("bind", {"10.0.0.1  10.0.0.2"}).ok());  // one argument: split
  CHECK(c.bind() == std::vector<std::string>{"10.0.0.1", "10.0.0.2"});
  CHECK(Get1(c, "bind") == "10.0.0.1 10.0.0.2");
  CHECK(c.ApplyDirective("bind", {}).message() ==
        "Bad directive or wrong number of arguments 'bind'");
  std::vector<std::string> many(17, "127.0.0.1");
  CHECK(c.ApplyDirective("bind", many).message() == "'bind' Too many bind addresses specified.");
  CHECK(c.ApplyDirective("save", {"3600", "1", "300", "100"}).ok());
  CHECK(c.save() == "3600 1 300 100");
  CHECK(c.ApplyDirective("save", {""}).ok());
  CHECK(c.save().empty());
  CHECK(c.ApplyDirective("save", {}).ok());

  // client-output-buffer-limit: a line changes only the classes it names.
  CHECK(c.ApplyDirective("client-output-buffer-limit", {"normal", "0", "0", "0"}).ok());
  CHECK(c.output_limit_normal_hard() == 0);
  CHECK(c.output_limit_normal_soft() == 0);
  CHECK(c.output_limit_normal_soft_seconds() == 0);
  CHECK(Get1(c, "client-output-buffer-limit") ==
        "normal 0 0 0 replica 268435456 67108864 60 pubsub 33554432 8388608 60");
  CHECK(c.ApplyDirective("client-output-buffer-limit", {"slave 1mb 1k 5 pubsub 1 2 3"}).ok());
  CHECK(Get1(c, "client-output-buffer-limit") ==
        "normal 0 0 0 replica 1048576 1000 5 pubsub 1 2 3");
  CHECK(c.ApplyDirective("client-output-buffer-limit", {"normal", "1", "2"}).message() ==
        "'client-output-buffer-limit' Wrong number of arguments in buffer limit "
        "configuration.");
  CHECK(c.ApplyDirective("client-output-buffer-limit", {"master 1 2 3"}).message() ==
        "'client-output-buffer-limit' Invalid client class specified in buffer limit "
        "configuration.");
  CHECK(c.ApplyDirective("client-output-buffer-limit", {"normal x 2 3"}).message() ==
        "'client-output-buffer-limit' Error in hard, soft or soft_seconds setting in buffer "
        "limit configuration.");
  CHECK_FALSE(c.ApplyDirective("client-output-buffer-limit", {"normal 1 2 -3"}).ok());
  CHECK(Get1(c, "client-output-buffer-limit") ==
        "normal 0 0 0 replica 1048576 1000 5 pubsub 1 2 3");

  // unknown
  CHECK(c.ApplyDirective("foo", {"1"}).message() ==
        "Bad directive or wrong number of arguments 'foo'");
  CHECK(c.ApplyDirective("PORT", {"1"}).ok());  // names are case-insensitive
  CHECK(c.port() == 1);
}

TEST_CASE("config: LoadString parses files", "[config]") {
  Config c;
  Status s = c.LoadString(
      "# a comment\n"
      "\n"
      "   # indented comment\n"
      "Port 7000\r\n"
      "loglevel debug\n"
      "requirepass \"my pass\"\n"
      "bind 0.0.0.0 ::\n"
      "port 7001\n"  // repeated: last wins
      "client-output-buffer-limit normal 1mb 512kb 10\n"
      "client-output-buffer-limit pubsub 0 0 0\n"
      "  maxclients   5\t\n"
      "fsync always",  // no final newline
      "t.conf");
  REQUIRE(s.ok());
  CHECK(c.port() == 7001);
  CHECK(c.loglevel() == LogLevel::kDebug);
  CHECK(c.requirepass() == "my pass");
  CHECK(c.bind() == std::vector<std::string>{"0.0.0.0", "::"});
  CHECK(c.output_limit_normal_hard() == 1024 * 1024);
  CHECK(c.output_limit_normal_soft() == 512 * 1024);
  CHECK(c.output_limit_normal_soft_seconds() == 10);
  CHECK(Get1(c, "client-output-buffer-limit") ==
        "normal 1048576 524288 10 replica 268435456 67108864 60 pubsub 0 0 0");
  CHECK(c.maxclients() == 5);
  CHECK(c.fsync() == FsyncPolicy::kAlways);
}

TEST_CASE("config: file errors carry file:line and reason", "[config]") {
  CHECK(LoadError("port 1\n\n# c\nfoo bar\n") ==
        "conf/x.conf:4: Bad directive or wrong number of arguments 'foo'");
  CHECK(LoadError("\n\nport 99999\n") ==
        "conf/x.conf:3: 'port' argument must be between 0 and 65535 inclusive");
  CHECK(LoadError("port\n") == "conf/x.conf:1: Bad directive or wrong number of arguments 'port'");
  CHECK(LoadError("port 1 2\n") ==
        "conf/x.conf:1: Bad directive or wrong number of arguments 'port'");
  CHECK(LoadError("port 6379 # trailing comments are arguments\n") ==
        "conf/x.conf:1: Bad directive or wrong number of arguments 'port'");
  CHECK(LoadError("a 1\n") == "conf/x.conf:1: Bad directive or wrong number of arguments 'a'");
  CHECK(LoadError("x\ny\nrequirepass \"abc\n") ==
        "conf/x.conf:1: Bad directive or wrong number of arguments 'x'");
  CHECK(LoadError("requirepass \"abc\n") ==
        "conf/x.conf:1: Unbalanced quotes in configuration line");
  CHECK(LoadError("protected-mode maybe") ==
        "conf/x.conf:1: 'protected-mode' argument must be 'yes' or 'no'");
  CHECK(LoadError("fsync sometimes") ==
        "conf/x.conf:1: 'fsync' argument(s) must be one of the following: always, everysec, "
        "no");
  CHECK(LoadError("MaxClients 0") ==
        "conf/x.conf:1: 'maxclients' argument must be between 1 and 1000000 inclusive");
  CHECK(LoadError("port 1\ncache-eviction-policy lfu\n") ==
        "conf/x.conf:2: 'cache-eviction-policy' argument(s) must be one of the following: lru, "
        "random");
  CHECK(LoadError("cache-max-bytes lots").rfind("conf/x.conf:1: 'cache-max-bytes' ", 0) == 0);

  Config c;
  Status s = c.LoadFile("/nonexistent/dynis.conf");
  CHECK_FALSE(s.ok());
  CHECK(s.IsIOError());
  CHECK(s.message().find("/nonexistent/dynis.conf") != std::string::npos);
}

TEST_CASE("config: LoadFile reads a file", "[config]") {
  char path[] = "/tmp/dynis_config_test_XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  {
    std::ofstream out(path);
    out << "port 7100\n# comment\ndir /tmp/x\nbogus 1\n";
  }
  Config c;
  Status s = c.LoadFile(path);
  std::remove(path);
  CHECK(s.message() ==
        std::string(path) + ":4: Bad directive or wrong number of arguments 'bogus'");
  CHECK(c.port() == 7100);  // lines before the error were applied
  CHECK(c.dir() == "/tmp/x");
}

TEST_CASE("config: command-line flags", "[config]") {
  Config c;
  REQUIRE(c.ApplyArgs({"--port", "7000", "--loglevel", "debug", "--bind", "127.0.0.1 ::1", "--save",
                       "--requirepass", "", "--client-output-buffer-limit", "normal", "1mb", "1mb",
                       "0"})
              .ok());
  CHECK(c.port() == 7000);
  CHECK(c.loglevel() == LogLevel::kDebug);
  CHECK(c.bind() == std::vector<std::string>{"127.0.0.1", "::1"});
  CHECK(c.save().empty());
  CHECK(c.requirepass().empty());
  CHECK(c.output_limit_normal_hard() == 1024 * 1024);
  CHECK(c.output_limit_normal_soft_seconds() == 0);
  CHECK(c.ApplyArgs({}).ok());
  CHECK(c.ApplyArgs({"--bind", "1.2.3.4", "5.6.7.8"}).ok());  // several values
  CHECK(c.bind() == std::vector<std::string>{"1.2.3.4", "5.6.7.8"});
  CHECK(c.ApplyArgs({"--port", "70000"}).message() ==
        "--port: 'port' argument must be between 0 and 65535 inclusive");
  CHECK(c.ApplyArgs({"--port"}).message() ==
        "--port: Bad directive or wrong number of arguments 'port'");
  CHECK(c.ApplyArgs({"--port", "1", "2"}).message() ==
        "--port: Bad directive or wrong number of arguments 'port'");
  CHECK(c.ApplyArgs({"--nope", "1"}).message() ==
        "--nope: Bad directive or wrong number of arguments 'nope'");
  CHECK_FALSE(c.ApplyArgs({"port", "1"}).ok());
  CHECK_FALSE(c.ApplyArgs({"--"}).ok());
  CHECK(c.port() == 7000);
}

TEST_CASE("config: file then flags, flags win", "[config]") {
  Config c;
  REQUIRE(c.LoadString("port 7000\nloglevel warning\n", "f").ok());
  REQUIRE(c.ApplyArgs({"--port", "7001"}).ok());
  CHECK(c.port() == 7001);
  CHECK(c.loglevel() == LogLevel::kWarning);
}

TEST_CASE("config: Validate cross-checks siblings", "[config]") {
  Config c;
  REQUIRE(c.LoadString("sibling-warn 200\n", "f").ok());  // lines load independently...
  CHECK(c.Validate().message() ==
        "'sibling-warn' (200) must be less than or equal to 'sibling-max' (100)");
  REQUIRE(c.ApplyArgs({"--sibling-max", "200"}).ok());  // ...and the end result is checked
  CHECK(c.Validate().ok());
}

TEST_CASE("config: Validate refuses quorums above the replica count", "[config]") {
  Config c;
  CHECK(c.replicas() == 3);
  CHECK(c.read_quorum() == 2);
  CHECK(c.write_quorum() == 2);
  CHECK(c.Validate().ok());
  REQUIRE(c.ApplyArgs({"--replicas", "2", "--read-quorum", "3"}).ok());
  CHECK(c.Validate().message() == "'read-quorum' (3) must be less than or equal to 'replicas' (2)");
  REQUIRE(c.ApplyArgs({"--read-quorum", "2", "--write-quorum", "3"}).ok());
  CHECK(c.Validate().message() ==
        "'write-quorum' (3) must be less than or equal to 'replicas' (2)");
  REQUIRE(c.ApplyArgs({"--write-quorum", "1"}).ok());
  CHECK(c.Validate().ok());
  // CONFIG SET checks the same against the (immutable) replica count.
  CHECK(c.Set({{"read-quorum", "3"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'read-quorum') - read-quorum (3) "
        "must be less than or equal to replicas (2)");
  CHECK(c.Set({{"write-quorum", "2"}}).ok());
  CHECK(c.write_quorum() == 2);
}

TEST_CASE("config: a cluster needs a secret and host:port seeds", "[config]") {
  Config c;
  CHECK(c.cluster_nodes().empty());
  CHECK(c.cluster_port() == 16379);  // port + 10000
  REQUIRE(c.ApplyArgs({"--port", "7001"}).ok());
  CHECK(c.cluster_port() == 17001);
  CHECK(c.cluster_announce_ip() == "127.0.0.1");  // the first bind address
  REQUIRE(c.ApplyArgs({"--cluster-nodes", "127.0.0.1:17001 127.0.0.1:17002"}).ok());
  CHECK(c.cluster_nodes() == std::vector<std::string>{"127.0.0.1:17001", "127.0.0.1:17002"});
  CHECK(c.Validate().message() == "'cluster-nodes' is set but 'cluster-secret' is empty");
  REQUIRE(c.ApplyArgs({"--cluster-secret", "s3cret"}).ok());
  CHECK(c.Validate().ok());
  REQUIRE(c.ApplyArgs({"--cluster-port", "7100", "--cluster-announce-ip", "10.0.0.5"}).ok());
  CHECK(c.cluster_port() == 7100);
  CHECK(c.cluster_announce_ip() == "10.0.0.5");
}

// Cassandra users write seeds with commas; `a:1,b:2` taken as one seed made the node wait
// for it forever (issue 7).
TEST_CASE("config: cluster-nodes entries are separated by spaces or commas", "[config]") {
  const std::vector<std::string> three = {"10.0.0.1:17001", "node-2.example:17002", "[::1]:17003"};
  for (const char* line : {
           "cluster-nodes 10.0.0.1:17001 node-2.example:17002 [::1]:17003",
           "cluster-nodes 10.0.0.1:17001,node-2.example:17002,[::1]:17003",
           "cluster-nodes \"10.0.0.1:17001, node-2.example:17002 ,[::1]:17003\"",
           "cluster-nodes 10.0.0.1:17001, node-2.example:17002,[::1]:17003,",
           "cluster-nodes \"10.0.0.1:17001 node-2.example:17002\" [::1]:17003",
       }) {
    INFO(line);
    Config c;
    Status s = c.LoadString(line, "f");
    INFO(s.message());
    REQUIRE(s.ok());
    CHECK(c.cluster_nodes() == three);
    // CONFIG GET shows the list the way it is read: one space between entries.
    CHECK(Get1(c, "cluster-nodes") == "10.0.0.1:17001 node-2.example:17002 [::1]:17003");
  }
  Config c;
  REQUIRE(c.ApplyArgs({"--cluster-nodes", "a:1,b:2", "c:3"}).ok());
  CHECK(c.cluster_nodes() == std::vector<std::string>{"a:1", "b:2", "c:3"});
  REQUIRE(c.ApplyArgs({"--cluster-nodes", "a:1,b:2"}).ok());
  CHECK(c.cluster_nodes() == std::vector<std::string>{"a:1", "b:2"});
  REQUIRE(c.LoadString("cluster-nodes \"\"", "f").ok());  // empty: a standalone node
  CHECK(c.cluster_nodes().empty());
}

TEST_CASE("config: a cluster-nodes entry that is not host:port stops loading at its line",
          "[config]") {
  struct Row {
    const char* value;
    const char* error;  // after "conf/x.conf:2: 'cluster-nodes' "
  };
  const Row rows[] = {
      {"127.0.0.1", "entry '127.0.0.1' is not host:port: the ':port' is missing"},
      {"a:1 127.0.0.1", "entry '127.0.0.1' is not host:port: the ':port' is missing"},
      {"a:1,b", "entry 'b' is not host:port: the ':port' is missing"},
      {":17001", "entry ':17001' is not host:port: the host is empty"},
      {"[]:17001", "entry '[]:17001' is not host:port: the host is empty"},
      {"h:", "entry 'h:' is not host:port: the port must be a number from 1 to 65535"},
      {"h:0", "entry 'h:0' is not host:port: the port must be a number from 1 to 65535"},
      {"h:70000", "entry 'h:70000' is not host:port: the port must be a number from 1 to 65535"},
      {"h:17o01", "entry 'h:17o01' is not host:port: the port must be a number from 1 to 65535"},
      {"h:+1", "entry 'h:+1' is not host:port: the port must be a number from 1 to 65535"},
      {"h:1:2",
       "entry 'h:1:2' is not host:port: an IPv6 address goes in brackets, as in "
       "[::1]:17001"},
      {"::1:17001",
       "entry '::1:17001' is not host:port: an IPv6 address goes in brackets, as "
       "in [::1]:17001"},
      {"[::1]", "entry '[::1]' is not host:port: the ':port' is missing"},
      {"[::1:17001", "entry '[::1:17001' is not host:port: the '[' has no matching ']'"},
      {"[::1]x:17001", "entry '[::1]x:17001' is not host:port: the ':port' is missing"},
      {"[host]:17001",
       "entry '[host]:17001' is not host:port: only an IPv6 address goes in "
       "brackets"},
      {"ho/st:17001",
       "entry 'ho/st:17001' is not host:port: the host has a character other "
       "than letters, digits, '.', '-' and '_'"},
  };
  for (const Row& row : rows) {
    INFO(row.value);
    CHECK(LoadError(std::string("port 7001\ncluster-nodes \"") + row.value + "\"\n") ==
          std::string("conf/x.conf:2: 'cluster-nodes' ") + row.error);
  }
  // The flags report the same reason.
  Config c;
  CHECK(c.ApplyArgs({"--cluster-nodes", "a:1,b:2x"}).message() ==
        "--cluster-nodes: 'cluster-nodes' entry 'b:2x' is not host:port: the port must be a "
        "number from 1 to 65535");
  CHECK(c.cluster_nodes().empty());  // a refused value is not stored
}

TEST_CASE("config: CONFIG GET patterns", "[config]") {
  Config c;
  auto all = GetMap(c, "*");
  for (const std::string& name : c.Names()) CHECK(all.count(name) == 1);
  CHECK(all.count("appendfsync") == 1);
  CHECK(all.at("appendfsync") == all.at("fsync"));
  CHECK(all.at("port") == "6379");
  CHECK(all.at("dir") == "./data");
  CHECK(all.at("appendonly") == "yes");
  CHECK(all.at("databases") == "1");

  auto max = GetMap(c, "max*");
  CHECK(max == std::map<std::string, std::string>{{"maxclients", "10000"},
                                                  {"max-object-size", "1048576"}});

  CHECK(GetMap(c, "MAXCLIENTS") == std::map<std::string, std::string>{{"maxclients", "10000"}});
  CHECK(GetMap(c, "Port").count("port") == 1);
  CHECK(c.Get("nope").empty());
  CHECK(c.Get("").empty());
  CHECK(GetMap(c, "*fsync").size() == 2);
  CHECK(GetMap(c, "sibling-[wm]*").size() == 2);
  CHECK(GetMap(c, "rocksdb-*").size() == 2);
  CHECK(GetMap(c, "p?rt").count("port") == 1);

  // Several patterns: union, no duplicates, table order.
  auto several = c.Get(std::vector<std::string>{"port", "max*", "port", "*port"});
  std::vector<std::string> names;
  for (const auto& nv : several) names.push_back(nv.first);
  CHECK(names == std::vector<std::string>{"port", "maxclients", "max-object-size", "cluster-port"});
  CHECK(c.Get(std::vector<std::string>{}).empty());
}

TEST_CASE("config: CONFIG SET mutable, immutable, unknown, bad values", "[config]") {
  Config c;
  CHECK(c.Set({{"maxclients", "50"}}).ok());
  CHECK(c.maxclients() == 50);
  CHECK(c.Set({{"MaxClients", "60"}}).ok());
  CHECK(c.maxclients() == 60);
  CHECK(c.Set({{"loglevel", "debug"}, {"timeout", "30"}, {"requirepass", "pw"}}).ok());
  CHECK(c.loglevel() == LogLevel::kDebug);
  CHECK(c.timeout_s() == 30);
  CHECK(c.requirepass() == "pw");
  CHECK(c.Set({{"appendfsync", "always"}}).ok());
  CHECK(c.fsync() == FsyncPolicy::kAlways);
  CHECK(c.Set({{"proto-max-bulk-len", "2mb"}}).ok());
  CHECK(c.proto_max_bulk_len() == 2 * 1024 * 1024);
  CHECK(c.Set({{"client-output-buffer-limit", "normal 10mb 5mb 30"}}).ok());
  CHECK(c.output_limit_normal_hard() == 10 * 1024 * 1024);
  CHECK(c.output_limit_normal_soft() == 5 * 1024 * 1024);
  CHECK(c.output_limit_normal_soft_seconds() == 30);
  CHECK(c.Set({}).ok());

  Status s = c.Set({{"foo", "bar"}});
  CHECK(s.code() == Status::Code::kError);
  CHECK(s.message() == "ERR Unknown option or number of arguments for CONFIG SET - 'foo'");
  CHECK(c.Set({{"port", "7000"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable "
        "config");
  CHECK(c.Set({{"maxclients", "0"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be "
        "between 1 and 1000000 inclusive");
  CHECK(c.Set({{"maxclients", "abc"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument couldn't "
        "be parsed into an integer");
  CHECK(c.Set({{"protected-mode", "maybe"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'protected-mode') - argument must "
        "be 'yes' or 'no'");
  CHECK(c.Set({{"fsync", "sometimes"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'fsync') - argument(s) must be one "
        "of the following: always, everysec, no");
  CHECK(c.Set({{"appendfsync", "sometimes"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must "
        "be one of the following: always, everysec, no");
  CHECK(c.Set({{"proto-max-bulk-len", "big"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'proto-max-bulk-len') - argument "
        "must be a memory value");
  CHECK(c.Set({{"client-output-buffer-limit", "normal 1 2"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - "
        "Wrong number of arguments in buffer limit configuration.");
  CHECK(c.Set({{"maxclients", "1"}, {"maxclients", "2"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'maxclients') - duplicate "
        "parameter");
  CHECK(c.Set({{"fsync", "no"}, {"appendfsync", "no"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - duplicate "
        "parameter");
  // Like Redis 7, name problems are reported before value problems.
  CHECK(c.Set({{"maxclients", "abc"}, {"port", "1"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable "
        "config");
  CHECK(c.Set({{"port", "1"}, {"foo", "1"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable "
        "config");
  CHECK(c.Set({{"foo", "1"}, {"port", "1"}}).message() ==
        "ERR Unknown option or number of arguments for CONFIG SET - 'foo'");
  for (const char* immutable :
       {"bind", "port", "dir", "io-threads", "tcp-backlog", "logfile", "pidfile", "appendonly",
        "save", "databases", "partitions", "node-id", "rocksdb-block-cache-size",
        "rocksdb-write-buffer-size"}) {
    INFO(immutable);
    CHECK(c.Set({{immutable, "1"}}).message().find("can't set immutable config") !=
          std::string::npos);
  }
  CHECK(c.port() == 6379);
  CHECK(c.maxclients() == 60);
}

TEST_CASE("config: CONFIG SET is atomic", "[config]") {
  Config c;
  Status s = c.Set({{"maxclients", "77"},
                    {"loglevel", "debug"},
                    {"requirepass", "x"},
                    {"client-output-buffer-limit", "normal 1 1 1"},
                    {"timeout", "-1"}});
  CHECK(s.message() ==
        "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be "
        "between 0 and 2147483647 inclusive");
  CHECK(c.maxclients() == 10000);
  CHECK(c.loglevel() == LogLevel::kNotice);
  CHECK(c.requirepass().empty());
  CHECK(c.output_limit_normal_hard() == 256LL * 1024 * 1024);
  CHECK(c.timeout_s() == 0);

  // Cross-field check on the values about to be installed.
  CHECK(c.Set({{"sibling-warn", "150"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'sibling-warn') - sibling-warn "
        "(150) must be less than or equal to sibling-max (100)");
  CHECK(c.sibling_warn() == 25);
  CHECK(c.Set({{"sibling-warn", "150"}, {"sibling-max", "200"}}).ok());
  CHECK(c.sibling_warn() == 150);
  CHECK(c.sibling_max() == 200);
  CHECK_FALSE(c.Set({{"sibling-max", "100"}, {"maxclients", "5"}}).ok());
  CHECK(c.sibling_max() == 200);
  CHECK(c.maxclients() == 10000);
  CHECK(c.Validate().ok());
}

TEST_CASE("config: on-change hooks", "[config]") {
  Config c;
  int loglevel_calls = 0;
  LogLevel seen = LogLevel::kNotice;
  REQUIRE(c.OnChange("loglevel", [&] {
             ++loglevel_calls;
             seen = c.loglevel();  // the new value is visible; getters are callable
           }).ok());
  int fsync_calls = 0;
  REQUIRE(c.OnChange("appendfsync", [&] { ++fsync_calls; }).ok());
  CHECK_FALSE(c.OnChange("nope", [] {}).ok());

  REQUIRE(c.Set({{"loglevel", "warning"}}).ok());
  CHECK(loglevel_calls == 1);
  CHECK(seen == LogLevel::kWarning);
  REQUIRE(c.Set({{"fsync", "no"}, {"maxclients", "3"}}).ok());
  CHECK(fsync_calls == 1);
  // Failed sets run no hook.
  CHECK_FALSE(c.Set({{"loglevel", "debug"}, {"maxclients", "0"}}).ok());
  CHECK(loglevel_calls == 1);
  // Loading does not run hooks.
  REQUIRE(c.ApplyDirective("loglevel", {"debug"}).ok());
  CHECK(loglevel_calls == 1);
}

TEST_CASE("config: concurrent readers and writers", "[config]") {
  Config c;
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  std::atomic<int64_t> sink{0};
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        sink +=
            c.proto_max_bulk_len() + c.maxclients() + static_cast<int64_t>(c.requirepass().size());
        sink += static_cast<int64_t>(c.Get("max*").size());
      }
    });
  }
  for (int i = 0; i < 500; ++i) {
    REQUIRE(c.Set({{"maxclients", std::to_string(1 + i)},
                   {"requirepass", std::string(static_cast<size_t>(i % 40), 'p')},
                   {"proto-max-bulk-len", std::to_string(i + 1) + "mb"}})
                .ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  CHECK(c.maxclients() == 500);
  CHECK(c.proto_max_bulk_len() == 500LL * 1024 * 1024);
}

TEST_CASE("config: shipped conf/dynis.conf loads and documents every option", "[config]") {
  Config c;
  Status s = c.LoadFile("conf/dynis.conf");
  INFO(s.message());
  REQUIRE(s.ok());
  CHECK(c.Validate().ok());
  CHECK(c.port() == 6379);
  CHECK(c.dir() == "./data");

  // The shipped file sets every option to its default.
  Config defaults;
  CHECK(c.Get("*") == defaults.Get("*"));

  // Every option of the table appears as a directive, and the file has no other directive.
  std::ifstream in("conf/dynis.conf");
  REQUIRE(in);
  std::set<std::string> directives;
  std::string line;
  while (std::getline(in, line)) {
    const size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    auto args = SplitConfigLine(line);
    REQUIRE(args.ok());
    REQUIRE_FALSE(args->empty());
    directives.insert((*args)[0]);
  }
  std::vector<std::string> names = c.Names();
  std::set<std::string> expected(names.begin(), names.end());
  CHECK(directives == expected);
}

TEST_CASE("config: enable-debug-command is Redis's no|yes|local, set at startup only", "[config]") {
  Config c;
  CHECK(Get1(c, "enable-debug-command") == "no");
  CHECK(c.enable_debug_command() == DebugCommand::kNo);
  REQUIRE(c.ApplyDirective("enable-debug-command", {"LOCAL"}).ok());
  CHECK(c.enable_debug_command() == DebugCommand::kLocal);
  CHECK(Get1(c, "enable-debug-command") == "local");
  REQUIRE(c.ApplyArgs({"--enable-debug-command", "yes"}).ok());
  CHECK(c.enable_debug_command() == DebugCommand::kYes);
  CHECK(c.ApplyDirective("enable-debug-command", {"maybe"}).message() ==
        "'enable-debug-command' argument(s) must be one of the following: no, yes, local");
  CHECK(c.Set({{"enable-debug-command", "no"}}).message() ==
        "ERR CONFIG SET failed (possibly related to argument 'enable-debug-command') - can't set "
        "immutable config");
  CHECK(c.enable_debug_command() == DebugCommand::kYes);
}
