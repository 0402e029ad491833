// Expiry: SET EX/PX, EXPIRE family, TTL family, PERSIST, GETEX, KEEPTTL.
#include <sys/time.h>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace dynis::test;

namespace {

int64_t UnixNowS() {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  return tv.tv_sec;
}

}  // namespace

TEST_CASE("SET PX: the key is gone once its time to live is over", "[ttl]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"SET", "k", "v", "PX", "300"}).Repr() == "+OK");
  long long pttl = c.Cmd({"PTTL", "k"}).Int();
  CHECK(pttl > 0);
  CHECK(pttl <= 300);
  REQUIRE(WaitFor([&] { return c.Cmd({"GET", "k"}).IsNil(); }, 5));
  CHECK(c.Cmd({"EXISTS", "k"}).Repr() == ":0");
  CHECK(c.Cmd({"TTL", "k"}).Repr() == ":-2");
  CHECK(c.Cmd({"PTTL", "k"}).Repr() == ":-2");
  CHECK(c.Cmd({"DBSIZE"}).Repr() == ":0");
  CHECK(c.Cmd({"KEYS", "*"}).Repr() == "[]");
}

TEST_CASE("EXPIRE, TTL and PERSIST", "[ttl]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"EXPIRE", "missing", "100"}).Repr() == ":0");
  CHECK(c.Cmd({"TTL", "missing"}).Repr() == ":-2");
  REQUIRE(c.Cmd({"SET", "k", "v"}).Repr() == "+OK");
  CHECK(c.Cmd({"TTL", "k"}).Repr() == ":-1");
  CHECK(c.Cmd({"EXPIRE", "k", "100"}).Repr() == ":1");
  long long ttl = c.Cmd({"TTL", "k"}).Int();
  CHECK(ttl >= 98);
  CHECK(ttl <= 100);
  CHECK(c.Cmd({"PERSIST", "k"}).Repr() == ":1");
  CHECK(c.Cmd({"TTL", "k"}).Repr() == ":-1");
  CHECK(c.Cmd({"PERSIST", "k"}).Repr() == ":0");
  CHECK(c.Cmd({"PERSIST", "missing"}).Repr() == ":0");
  CHECK(c.Cmd({"GET", "k"}).Repr() == "\"v\"");
}

TEST_CASE("EXPIRE with a non-positive time deletes the key", "[ttl]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"SET", "k", "v"}).Repr() == "+OK");
  CHECK(c.Cmd({"EXPIRE", "k", "-1"}).Repr() == ":1");
  CHECK(c.Cmd({"EXISTS", "k"}).Repr() == ":0");
  REQUIRE(c.Cmd({"SET", "k", "v"}).Repr() == "+OK");
  CHECK(c.Cmd({"PEXPIREAT", "k", "1"}).Repr() == ":1");
  CHECK(c.Cmd({"GET", "k"}).Repr() == "(nil)");
}

TEST_CASE("EXPIRE NX/XX/GT/LT options", "[ttl]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"SET", "k", "v"}).Repr() == "+OK");
  CHECK(c.Cmd({"EXPIRE", "k", "100", "XX"}).Repr() == ":0");
  CHECK(c.Cmd({"EXPIRE", "k", "100", "GT"}).Repr() == ":0");
  CHECK(c.Cmd({"EXPIRE", "k", "100", "NX"}).Repr() == ":1");
  CHECK(c.Cmd({"EXPIRE", "k", "200", "NX"}).Repr() == ":0");
  CHECK(c.Cmd({"EXPIRE", "k", "50", "GT"}).Repr() == ":0");
  CHECK(c.Cmd({"EXPIRE", "k", "200", "GT"}).Repr() == ":1");
  CHECK(c.Cmd({"EXPIRE", "k", "300", "LT"}).Repr() == ":0");
  CHECK(c.Cmd({"EXPIRE", "k", "50", "LT"}).Repr() == ":1");
  CHECK(c.Cmd({"TTL", "k"}).Int() <= 50);
  CHECK(c.Cmd({"EXPIRE", "k", "50", "NX", "XX"}).Repr() ==
        "-ERR NX and XX, GT or LT options at the same time are not compatible");
  CHECK(c.Cmd({"EXPIRE", "k", "50", "GT", "LT"}).Repr() ==
        "-ERR GT and LT options at the same time are not compatible");
  CHECK(c.Cmd({"EXPIRE", "k", "50", "YY"}).Repr() == "-ERR Unsupported option YY");
  CHECK(c.Cmd({"EXPIRE", "k", "abc"}).Repr() == "-ERR value is not an integer or out of range");
}

TEST_CASE("EXPIRETIME and PEXPIRETIME return the absolute expiry", "[ttl]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"EXPIRETIME", "missing"}).Repr() == ":-2");
  REQUIRE(c.Cmd({"SET", "k", "v"}).Repr() == "+OK");
  CHECK(c.Cmd({"EXPIRETIME", "k"}).Repr() == ":-1");
  CHECK(c.Cmd({"PEXPIRETIME", "k"}).Repr() == ":-1");
  int64_t at = UnixNowS() + 1000;
  CHECK(c.Cmd({"EXPIREAT", "k", std::to_string(at)}).Repr() == ":1");
  CHECK(c.Cmd({"EXPIRETIME", "k"}).Repr() == ":" + std::to_string(at));
  CHECK(c.Cmd({"PEXPIRETIME", "k"}).Repr() == ":" + std::to_string(at * 1000));
  CHECK(c.Cmd({"PEXPIREAT", "k", std::to_string(at * 1000 + 123)}).Repr() == ":1");
  CHECK(c.Cmd({"PEXPIRETIME", "k"}).Repr() == ":" + std::to_string(at * 1000 + 123));
  REQUIRE(c.Cmd({"SET", "k2", "v", "EXAT", std::to_string(at)}).Repr() == "+OK");
  CHECK(c.Cmd({"EXPIRETIME", "k2"}).Repr() == ":" + std::to_string(at));
  REQUIRE(c.Cmd({"SET", "k3", "v", "PXAT", std::to_string(at * 1000 + 5)}).Repr() == "+OK");
  CHECK(c.Cmd({"PEXPIRETIME", "k3"}).Repr() == ":" + std::to_string(at * 1000 + 5));
}

TEST_CASE("SET with an invalid expire time is an error", "[ttl][errors]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"SET", "k", "v", "EX", "0"}).Repr() == "-ERR invalid expire time in 'set' command");
  CHECK(c.Cmd({"SET", "k", "v", "PX", "-5"}).Repr() == "-ERR invalid expire time in 'set' command");
  CHECK(c.Cmd({"SET", "k", "v", "EX", "9223372036854775807"}).Repr() ==
        "-ERR invalid expire time in 'set' command");
  CHECK(c.Cmd({"SET", "k", "v", "EX", "ten"}).Repr() ==
        "-ERR value is not an integer or out of range");
  CHECK(c.Cmd({"SET", "k", "v", "EX"}).Repr() == "-ERR syntax error");
  CHECK(c.Cmd({"SET", "k", "v", "EX", "10", "PX", "100"}).Repr() == "-ERR syntax error");
  CHECK(c.Cmd({"SET", "k", "v", "KEEPTTL", "EX", "10"}).Repr() == "-ERR syntax error");
  CHECK(c.Cmd({"SET", "k", "v", "NX", "XX"}).Repr() == "-ERR syntax error");
  CHECK(c.Cmd({"SETEX", "k", "0", "v"}).Repr() == "-ERR invalid expire time in 'setex' command");
  CHECK(c.Cmd({"PSETEX", "k", "0", "v"}).Repr() == "-ERR invalid expire time in 'psetex' command");
  CHECK(c.Cmd({"EXISTS", "k"}).Repr() == ":0");
}

TEST_CASE("GETEX sets or removes the expiry and returns the value", "[ttl]") {
  TestServer srv;
  Client c = srv.Connect();
  CHECK(c.Cmd({"GETEX", "missing", "EX", "100"}).Repr() == "(nil)");
  REQUIRE(c.Cmd({"SET", "k", "v"}).Repr() == "+OK");
  CHECK(c.Cmd({"GETEX", "k"}).Repr() == "\"v\"");
  CHECK(c.Cmd({"TTL", "k"}).Repr() == ":-1");
  CHECK(c.Cmd({"GETEX", "k", "EX", "100"}).Repr() == "\"v\"");
  long long ttl = c.Cmd({"TTL", "k"}).Int();
  CHECK(ttl >= 98);
  CHECK(ttl <= 100);
  CHECK(c.Cmd({"GETEX", "k", "PERSIST"}).Repr() == "\"v\"");
  CHECK(c.Cmd({"TTL", "k"}).Repr() == ":-1");
  CHECK(c.Cmd({"GETEX", "k", "PX", "200000"}).Repr() == "\"v\"");
  CHECK(c.Cmd({"PTTL", "k"}).Int() > 190000);
  CHECK(c.Cmd({"GETEX", "k", "EX", "0"}).Repr() == "-ERR invalid expire time in 'getex' command");
  CHECK(c.Cmd({"GETEX", "k", "EX", "10", "PERSIST"}).Repr() == "-ERR syntax error");
  CHECK(c.Cmd({"GETEX", "k", "PX", "100"}).Repr() == "\"v\"");
  CHECK(WaitFor([&] { return c.Cmd({"EXISTS", "k"}).Repr() == ":0"; }, 5));
}

TEST_CASE("SET KEEPTTL keeps the time to live, a plain SET clears it", "[ttl]") {
  TestServer srv;
  Client c = srv.Connect();
  REQUIRE(c.Cmd({"SET", "k", "v1", "EX", "100"}).Repr() == "+OK");
  REQUIRE(c.Cmd({"SET", "k", "v2", "KEEPTTL"}).Repr() == "+OK");
  long long ttl = c.Cmd({"TTL", "k"}).Int();
  CHECK(ttl >= 98);
  CHECK(ttl <= 100);
  CHECK(c.Cmd({"GET", "k"}).Repr() == "\"v2\"");
  REQUIRE(c.Cmd({"SET", "k", "v3"}).Repr() == "+OK");
  CHECK(c.Cmd({"TTL", "k"}).Repr() == ":-1");
  // KEEPTTL on a new key: no expiry.
  REQUIRE(c.Cmd({"SET", "fresh", "v", "KEEPTTL"}).Repr() == "+OK");
  CHECK(c.Cmd({"TTL", "fresh"}).Repr() == ":-1");
  // INCR and APPEND keep the expiry too, as in Redis.
  REQUIRE(c.Cmd({"SET", "n", "1", "EX", "100"}).Repr() == "+OK");
  REQUIRE(c.Cmd({"INCR", "n"}).Repr() == ":2");
  CHECK(c.Cmd({"TTL", "n"}).Int() > 0);
  REQUIRE(c.Cmd({"APPEND", "n", "0"}).Repr() == ":2");
  CHECK(c.Cmd({"TTL", "n"}).Int() > 0);
}

TEST_CASE("An expired key stays expired after a restart", "[ttl][durability]") {
  TestServer srv;
  {
    Client c = srv.Connect();
    REQUIRE(c.Cmd({"SET", "short", "v", "PX", "200"}).Repr() == "+OK");
    REQUIRE(c.Cmd({"SET", "long", "v", "EX", "1000"}).Repr() == "+OK");
  }
  srv.Kill9();
  srv.Restart();
  Client c = srv.Connect();
  CHECK(WaitFor([&] { return c.Cmd({"EXISTS", "short"}).Repr() == ":0"; }, 5));
  long long ttl = c.Cmd({"TTL", "long"}).Int();
  CHECK(ttl > 900);
  CHECK(ttl <= 1000);
}
