// String commands with Redis 7 semantics on top of versioned values: every write here is a plain
// write (it supersedes every version this replica holds) and reads see the LWW winner.
#include <climits>
#include <cmath>

#include "commands/command.h"
#include "commands/node_context.h"
#include "commands/util.h"
#include "common/errors.h"
#include "config/config.h"
#include "kv/keyspace.h"

namespace dynis {

namespace {

void CountLookup(CommandContext& c, bool hit) { c.node.CountKeyspaceLookup(hit); }

bool Lookup(CommandContext& c, const std::string& key, std::optional<kv::LiveValue>* v) {
  if (ReplyIfError(c, c.ks.GetLive(key, v))) return false;
  CountLookup(c, v->has_value());
  return true;
}

void CmdGet(CommandContext& c) {
  std::optional<kv::LiveValue> v;
  if (!Lookup(c, c.argv[1], &v)) return;
  if (v) {
    c.reply.Bulk(v->value);
  } else {
    c.reply.NullBulk();
  }
}

// Expiry options shared by SET and GETEX.
struct ExpireOpt {
  enum Kind { kNone, kEx, kPx, kExAt, kPxAt, kKeepTtl, kPersist } kind = kNone;
  int64_t at_ms = 0;  // absolute unix ms for kEx..kPxAt
};

// Parses the value after EX/PX/EXAT/PXAT into an absolute time; Redis's errors.
bool ParseExpireValue(CommandContext& c, ExpireOpt::Kind kind, const std::string& arg,
                      const char* cmd, int64_t* at_ms) {
  int64_t v;
  if (!ParseInt64(arg, &v)) {
    c.reply.Error(err::kNotInteger);
    return false;
  }
  std::string invalid = err::InvalidExpireTime(cmd);
  if (v <= 0) {
    c.reply.Error(invalid);
    return false;
  }
  bool seconds = kind == ExpireOpt::kEx || kind == ExpireOpt::kExAt;
  if (seconds && v > INT64_MAX / 1000) {
    c.reply.Error(invalid);
    return false;
  }
  int64_t ms = seconds ? v * 1000 : v;
  if (kind == ExpireOpt::kEx || kind == ExpireOpt::kPx) {
    int64_t now = c.ks.NowMs();
    if (ms > INT64_MAX - now) {
      c.reply.Error(invalid);
      return false;
    }
    ms += now;
  }
  *at_ms = ms;
  return true;
}

void CmdSet(CommandContext& c) {
  bool nx = false, xx = false, get = false;
  ExpireOpt exp;
  const auto& a = c.argv;
  for (size_t i = 3; i < a.size(); i++) {
    std::string o = ToLower(a[i]);
    bool has_next = i + 1 < a.size();
    ExpireOpt::Kind k = ExpireOpt::kNone;
    if (o == "ex") k = ExpireOpt::kEx;
    if (o == "px") k = ExpireOpt::kPx;
    if (o == "exat") k = ExpireOpt::kExAt;
    if (o == "pxat") k = ExpireOpt::kPxAt;
    if (o == "nx" && !xx) {
      nx = true;
    } else if (o == "xx" && !nx) {
      xx = true;
    } else if (o == "get") {
      get = true;
    } else if (o == "keepttl" && exp.kind == ExpireOpt::kNone) {
      exp.kind = ExpireOpt::kKeepTtl;
    } else if (k != ExpireOpt::kNone && exp.kind == ExpireOpt::kNone && has_next) {
      exp.kind = k;
      if (!ParseExpireValue(c, k, a[++i], "set", &exp.at_ms)) return;
    } else {
      c.reply.Error(err::kSyntax);
      return;
    }
  }
  if (!nx && !xx && !get && exp.kind != ExpireOpt::kKeepTtl) {
    // The common SET: no need to look at the current value.
    if (ReplyIfError(c, c.ks.Put(a[1], a[2], exp.at_ms))) return;
    c.reply.Ok();
    return;
  }
  std::optional<kv::LiveValue> old;
  bool do_set = false;
  Status st = c.ks.Mutate(a[1], [&](const std::optional<kv::LiveValue>& cur) {
    old = cur;
    do_set = !(nx && cur) && !(xx && !cur);
    if (!do_set) return kv::Keyspace::Mutation::Keep();
    int64_t at = exp.kind == ExpireOpt::kKeepTtl ? (cur ? cur->expire_at_ms : 0) : exp.at_ms;
    return kv::Keyspace::Mutation::Put(a[2], at);
  });
  if (ReplyIfError(c, st)) return;
  if (get) {
    if (old) {
      c.reply.Bulk(old->value);
    } else {
      c.reply.NullBulk();
    }
  } else if (do_set) {
    c.reply.Ok();
  } else {
    c.reply.NullBulk();
  }
}

void CmdSetNx(CommandContext& c) {
  bool set = false;
  Status st = c.ks.Mutate(c.argv[1], [&](const std::optional<kv::LiveValue>& cur) {
    set = !cur;
    return set ? kv::Keyspace::Mutation::Put(c.argv[2], 0) : kv::Keyspace::Mutation::Keep();
  });
  if (ReplyIfError(c, st)) return;
  c.reply.Integer(set ? 1 : 0);
}

void SetExGeneric(CommandContext& c, ExpireOpt::Kind kind, const char* name) {
  int64_t at;
  if (!ParseExpireValue(c, kind, c.argv[2], name, &at)) return;
  if (ReplyIfError(c, c.ks.Put(c.argv[1], c.argv[3], at))) return;
  c.reply.Ok();
}

void CmdSetEx(CommandContext& c) { SetExGeneric(c, ExpireOpt::kEx, "setex"); }
void CmdPSetEx(CommandContext& c) { SetExGeneric(c, ExpireOpt::kPx, "psetex"); }

void CmdGetSet(CommandContext& c) {
  std::optional<kv::LiveValue> old;
  Status st = c.ks.Mutate(c.argv[1], [&](const std::optional<kv::LiveValue>& cur) {
    old = cur;
    return kv::Keyspace::Mutation::Put(c.argv[2], 0);
  });
  if (ReplyIfError(c, st)) return;
  if (old) {
    c.reply.Bulk(old->value);
  } else {
    c.reply.NullBulk();
  }
}

void CmdGetDel(CommandContext& c) {
  std::optional<kv::LiveValue> old;
  Status st = c.ks.Mutate(c.argv[1], [&](const std::optional<kv::LiveValue>& cur) {
    old = cur;
    return cur ? kv::Keyspace::Mutation::Delete() : kv::Keyspace::Mutation::Keep();
  });
  if (ReplyIfError(c, st)) return;
  CountLookup(c, old.has_value());
  if (old) {
    c.reply.Bulk(old->value);
  } else {
    c.reply.NullBulk();
  }
}

void CmdGetEx(CommandContext& c) {
  ExpireOpt exp;
  const auto& a = c.argv;
  for (size_t i = 2; i < a.size(); i++) {
    std::string o = ToLower(a[i]);
    ExpireOpt::Kind k = ExpireOpt::kNone;
    if (o == "ex") k = ExpireOpt::kEx;
    if (o == "px") k = ExpireOpt::kPx;
    if (o == "exat") k = ExpireOpt::kExAt;
    if (o == "pxat") k = ExpireOpt::kPxAt;
    if (o == "persist" && exp.kind == ExpireOpt::kNone) {
      exp.kind = ExpireOpt::kPersist;
    } else if (k != ExpireOpt::kNone && exp.kind == ExpireOpt::kNone && i + 1 < a.size()) {
      exp.kind = k;
      if (!ParseExpireValue(c, k, a[++i], "getex", &exp.at_ms)) return;
    } else {
      c.reply.Error(err::kSyntax);
      return;
    }
  }
  std::optional<kv::LiveValue> v;
  Status st = c.ks.Mutate(a[1], [&](const std::optional<kv::LiveValue>& cur) {
    v = cur;
    if (!cur || exp.kind == ExpireOpt::kNone) return kv::Keyspace::Mutation::Keep();
    if (exp.kind == ExpireOpt::kPersist) {
      return cur->expire_at_ms == 0 ? kv::Keyspace::Mutation::Keep()
                                    : kv::Keyspace::Mutation::Put(cur->value, 0);
    }
    return kv::Keyspace::Mutation::Put(cur->value, exp.at_ms);
  });
  if (ReplyIfError(c, st)) return;
  CountLookup(c, v.has_value());
  if (v) {
    c.reply.Bulk(v->value);
  } else {
    c.reply.NullBulk();
  }
}

// MGET: one key per call when split across io-threads, the whole list otherwise.
void CmdMGet(CommandContext& c) {
  c.reply.Array(c.argv.size() - 1);
  for (size_t i = 1; i < c.argv.size(); i++) {
    std::optional<kv::LiveValue> v;
    Status s = c.ks.GetLive(c.argv[i], &v);
    if (s.ok() && v) {
      c.reply.Bulk(v->value);
    } else {
      c.reply.NullBulk();
    }
  }
}

void CmdMSet(CommandContext& c) {
  for (size_t i = 1; i + 1 < c.argv.size(); i += 2) {
    if (ReplyIfError(c, c.ks.Put(c.argv[i], c.argv[i + 1], 0))) return;
  }
  c.reply.Ok();
}

void CmdMSetNx(CommandContext& c) {
  for (size_t i = 1; i + 1 < c.argv.size(); i += 2) {
    std::optional<kv::LiveValue> v;
    if (ReplyIfError(c, c.ks.GetLive(c.argv[i], &v))) return;
    if (v) {
      c.reply.Integer(0);
      return;
    }
  }
  for (size_t i = 1; i + 1 < c.argv.size(); i += 2) {
    if (ReplyIfError(c, c.ks.Put(c.argv[i], c.argv[i + 1], 0))) return;
  }
  c.reply.Integer(1);
}

void CmdAppend(CommandContext& c) {
  const uint64_t max_len = static_cast<uint64_t>(c.node.config().proto_max_bulk_len());
  bool too_long = false;
  size_t len = 0;
  Status st = c.ks.Mutate(c.argv[1], [&](const std::optional<kv::LiveValue>& cur) {
    std::string value = cur ? cur->value : "";
    if (value.size() + c.argv[2].size() > max_len) {
      too_long = true;
      return kv::Keyspace::Mutation::Keep();
    }
    value += c.argv[2];
    len = value.size();
    return kv::Keyspace::Mutation::Put(std::move(value), cur ? cur->expire_at_ms : 0);
  });
  if (ReplyIfError(c, st)) return;
  if (too_long) {
    c.reply.Error(err::kStringTooLong);
    return;
  }
  c.reply.Integer(static_cast<int64_t>(len));
}

void CmdStrLen(CommandContext& c) {
  std::optional<kv::LiveValue> v;
  if (ReplyIfError(c, c.ks.GetLive(c.argv[1], &v))) return;
  c.reply.Integer(v ? static_cast<int64_t>(v->value.size()) : 0);
}

void CmdGetRange(CommandContext& c) {
  int64_t start, end;
  if (!ParseInt64(c.argv[2], &start) || !ParseInt64(c.argv[3], &end)) {
    c.reply.Error(err::kNotInteger);
    return;
  }
  std::optional<kv::LiveValue> v;
  if (ReplyIfError(c, c.ks.GetLive(c.argv[1], &v))) return;
  const std::string s = v ? v->value : "";
  int64_t len = static_cast<int64_t>(s.size());
  // Redis 7.0: a negative start greater than end (both negative) is empty.
  if (start < 0 && end < 0 && start > end) {
    c.reply.Bulk("");
    return;
  }
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (end < 0) end = 0;
  if (end >= len) end = len - 1;
  if (start > end || len == 0) {
    c.reply.Bulk("");
    return;
  }
  c.reply.Bulk(std::string_view(s).substr(start, end - start + 1));
}

void CmdSetRange(CommandContext& c) {
  int64_t offset;
  if (!ParseInt64(c.argv[2], &offset)) {
    c.reply.Error(err::kNotInteger);
    return;
  }
  if (offset < 0) {
    c.reply.Error(err::kOffsetRange);
    return;
  }
  const std::string& piece = c.argv[3];
  if (!piece.empty() && static_cast<uint64_t>(offset) + piece.size() >
                            static_cast<uint64_t>(c.node.config().proto_max_bulk_len())) {
    c.reply.Error(err::kStringTooLong);
    return;
  }
  size_t len = 0;
  Status st = c.ks.Mutate(c.argv[1], [&](const std::optional<kv::LiveValue>& cur) {
    std::string s = cur ? cur->value : "";
    if (piece.empty()) {  // nothing to write: Redis answers the current length
      len = s.size();
      return kv::Keyspace::Mutation::Keep();
    }
    if (s.size() < offset + piece.size()) s.resize(offset + piece.size(), '\0');
    s.replace(offset, piece.size(), piece);
    len = s.size();
    return kv::Keyspace::Mutation::Put(std::move(s), cur ? cur->expire_at_ms : 0);
  });
  if (ReplyIfError(c, st)) return;  // includes max-object-size
  c.reply.Integer(static_cast<int64_t>(len));
}

void IncrBy(CommandContext& c, int64_t by) {
  const char* error = nullptr;
  int64_t result = 0;
  Status st = c.ks.Mutate(c.argv[1], [&](const std::optional<kv::LiveValue>& cur) {
    int64_t n = 0;
    if (cur && !ParseInt64(cur->value, &n)) {
      error = err::kNotInteger;
      return kv::Keyspace::Mutation::Keep();
    }
    if ((by < 0 && n < 0 && by < INT64_MIN - n) || (by > 0 && n > 0 && by > INT64_MAX - n)) {
      error = err::kOverflow;
      return kv::Keyspace::Mutation::Keep();
    }
    result = n + by;
    return kv::Keyspace::Mutation::Put(std::to_string(result), cur ? cur->expire_at_ms : 0);
  });
  if (ReplyIfError(c, st)) return;
  if (error != nullptr) {
    c.reply.Error(error);
    return;
  }
  c.reply.Integer(result);
}

void CmdIncr(CommandContext& c) { IncrBy(c, 1); }
void CmdDecr(CommandContext& c) { IncrBy(c, -1); }

void CmdIncrBy(CommandContext& c) {
  int64_t by;
  if (!ParseInt64(c.argv[2], &by)) {
    c.reply.Error(err::kNotInteger);
    return;
  }
  IncrBy(c, by);
}

void CmdDecrBy(CommandContext& c) {
  int64_t by;
  if (!ParseInt64(c.argv[2], &by)) {
    c.reply.Error(err::kNotInteger);
    return;
  }
  if (by == INT64_MIN) {
    c.reply.Error(err::kDecrementOverflow);
    return;
  }
  IncrBy(c, -by);
}

void CmdIncrByFloat(CommandContext& c) {
  long double by;
  if (!ParseLongDouble(c.argv[2], &by)) {
    c.reply.Error(err::kNotFloat);
    return;
  }
  const char* error = nullptr;
  std::string result;
  Status st = c.ks.Mutate(c.argv[1], [&](const std::optional<kv::LiveValue>& cur) {
    long double n = 0;
    if (cur && !ParseLongDouble(cur->value, &n)) {
      error = err::kNotFloat;
      return kv::Keyspace::Mutation::Keep();
    }
    long double r = n + by;
    if (std::isnan(r) || std::isinf(r)) {
      error = err::kNaN;
      return kv::Keyspace::Mutation::Keep();
    }
    result = proto::FormatHumanDouble(r);
    return kv::Keyspace::Mutation::Put(result, cur ? cur->expire_at_ms : 0);
  });
  if (ReplyIfError(c, st)) return;
  if (error != nullptr) {
    c.reply.Error(error);
    return;
  }
  c.reply.Bulk(result);
}

}  // namespace

// One command per declaration reads as a table.
// clang-format off
void RegisterStringCommands(std::vector<CommandSpec>* out) {
  const uint32_t w = kCmdWrite;
  const uint32_t r = kCmdReadOnly;
  const std::vector<ArgDoc> key = {{"key", "key"}};
  out->push_back({"get", 2, r | kCmdFast, 1, 1, 1, CmdGet, "string", "Get the value of a key",
                  "1.0.0", "O(1)", key, {}, "@read @string @fast"});
  out->push_back(
      {"set", -3, w | kCmdBlindWrite, 1, 1, 1, CmdSet, "string", "Set the string value of a key", "1.0.0", "O(1)",
       {{"key", "key"},
        {"value", "string"},
        {"condition", "oneof", nullptr, true, false,
         {{"nx", "pure-token", "NX"}, {"xx", "pure-token", "XX"}}},
        {"get", "pure-token", "GET", true},
        {"expiration", "oneof", nullptr, true, false,
         {{"seconds", "integer", "EX"},
          {"milliseconds", "integer", "PX"},
          {"unix-time-seconds", "unix-time", "EXAT"},
          {"unix-time-milliseconds", "unix-time", "PXAT"},
          {"keepttl", "pure-token", "KEEPTTL"}}}},
       {}, "@write @string @slow", "NX XX GET KEEPTTL"});
  out->push_back({"setnx", 3, w | kCmdFast, 1, 1, 1, CmdSetNx, "string",
                  "Set the value of a key, only if the key does not exist", "1.0.0", "O(1)",
                  {{"key", "key"}, {"value", "string"}}, {}, "@write @string @fast"});
  out->push_back({"setex", 4, w | kCmdBlindWrite, 1, 1, 1, CmdSetEx, "string",
                  "Set the value and expiration of a key", "2.0.0", "O(1)",
                  {{"key", "key"}, {"seconds", "integer"}, {"value", "string"}}, {},
                  "@write @string @slow"});
  out->push_back({"psetex", 4, w | kCmdBlindWrite, 1, 1, 1, CmdPSetEx, "string",
                  "Set the value and expiration in milliseconds of a key", "2.6.0", "O(1)",
                  {{"key", "key"}, {"milliseconds", "integer"}, {"value", "string"}}, {},
                  "@write @string @slow"});
  out->push_back({"getset", 3, w | kCmdFast, 1, 1, 1, CmdGetSet, "string",
                  "Set the string value of a key and return its old value", "1.0.0", "O(1)",
                  {{"key", "key"}, {"value", "string"}}, {}, "@write @string @fast"});
  out->push_back({"getdel", 2, w | kCmdFast, 1, 1, 1, CmdGetDel, "string",
                  "Get the value of a key and delete the key", "6.2.0", "O(1)", key, {},
                  "@write @string @fast"});
  out->push_back({"getex", -2, w | kCmdFast, 1, 1, 1, CmdGetEx, "string",
                  "Get the value of a key and optionally set its expiration", "6.2.0", "O(1)",
                  {{"key", "key"},
                   {"expiration", "oneof", nullptr, true, false,
                    {{"seconds", "integer", "EX"},
                     {"milliseconds", "integer", "PX"},
                     {"unix-time-seconds", "unix-time", "EXAT"},
                     {"unix-time-milliseconds", "unix-time", "PXAT"},
                     {"persist", "pure-token", "PERSIST"}}}},
                  {}, "@write @string @fast"});
  out->push_back({"mget", -2, r | kCmdFast | kCmdSplitArray, 1, -1, 1, CmdMGet, "string",
                  "Get the values of all the given keys", "1.0.0",
                  "O(N) where N is the number of keys to retrieve",
                  {{"key", "key", nullptr, false, true}}, {}, "@read @string @fast"});
  out->push_back({"mset", -3, w | kCmdSplitOk | kCmdBlindWrite, 1, -1, 2, CmdMSet, "string",
                  "Set multiple keys to multiple values", "1.0.1",
                  "O(N) where N is the number of keys to set",
                  {{"data", "block", nullptr, false, true, {{"key", "key"}, {"value", "string"}}}},
                  {}, "@write @string @slow"});
  out->push_back({"msetnx", -3, w, 1, -1, 2, CmdMSetNx, "string",
                  "Set multiple keys to multiple values, only if none of the keys exist", "1.0.1",
                  "O(N) where N is the number of keys to set",
                  {{"data", "block", nullptr, false, true, {{"key", "key"}, {"value", "string"}}}},
                  {}, "@write @string @slow"});
  out->push_back({"append", 3, w, 1, 1, 1, CmdAppend, "string", "Append a value to a key",
                  "2.0.0", "O(1)", {{"key", "key"}, {"value", "string"}}, {},
                  "@write @string @fast"});
  out->push_back({"strlen", 2, r | kCmdFast, 1, 1, 1, CmdStrLen, "string",
                  "Get the length of the value stored in a key", "2.2.0", "O(1)", key, {},
                  "@read @string @fast"});
  out->push_back({"getrange", 4, r, 1, 1, 1, CmdGetRange, "string",
                  "Get a substring of the string stored at a key", "2.4.0",
                  "O(N) where N is the length of the returned string",
                  {{"key", "key"}, {"start", "integer"}, {"end", "integer"}}, {},
                  "@read @string @slow"});
  out->push_back({"setrange", 4, w, 1, 1, 1, CmdSetRange, "string",
                  "Overwrite part of a string at key starting at the specified offset", "2.2.0",
                  "O(1)", {{"key", "key"}, {"offset", "integer"}, {"value", "string"}}, {},
                  "@write @string @slow"});
  out->push_back({"incr", 2, w | kCmdFast, 1, 1, 1, CmdIncr, "string",
                  "Increment the integer value of a key by one", "1.0.0", "O(1)", key, {},
                  "@write @string @fast"});
  out->push_back({"decr", 2, w | kCmdFast, 1, 1, 1, CmdDecr, "string",
                  "Decrement the integer value of a key by one", "1.0.0", "O(1)", key, {},
                  "@write @string @fast"});
  out->push_back({"incrby", 3, w | kCmdFast, 1, 1, 1, CmdIncrBy, "string",
                  "Increment the integer value of a key by the given amount", "1.0.0", "O(1)",
                  {{"key", "key"}, {"increment", "integer"}}, {}, "@write @string @fast"});
  out->push_back({"decrby", 3, w | kCmdFast, 1, 1, 1, CmdDecrBy, "string",
                  "Decrement the integer value of a key by the given number", "1.0.0", "O(1)",
                  {{"key", "key"}, {"decrement", "integer"}}, {}, "@write @string @fast"});
  out->push_back({"incrbyfloat", 3, w | kCmdFast, 1, 1, 1, CmdIncrByFloat, "string",
                  "Increment the float value of a key by the given amount", "2.6.0", "O(1)",
                  {{"key", "key"}, {"increment", "double"}}, {}, "@write @string @fast"});
}
// clang-format on

}  // namespace dynis
