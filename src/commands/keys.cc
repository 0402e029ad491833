// Generic key commands: DEL, UNLINK, EXISTS, TOUCH, TYPE, the EXPIRE and TTL families, PERSIST,
// KEYS, SCAN, RANDOMKEY, RENAME, RENAMENX, COPY.
#include <random>

#include "commands/command.h"
#include "commands/node_context.h"
#include "commands/util.h"
#include "common/errors.h"
#include "common/glob.h"
#include "kv/keyspace.h"
#include "storage/store.h"

namespace dynis {

namespace {

void CmdDel(CommandContext& c) {
  int64_t n = 0;
  for (size_t i = 1; i < c.argv.size(); i++) {
    bool existed = false;
    if (ReplyIfError(c, c.ks.Delete(c.argv[i], &existed))) return;
    n += existed ? 1 : 0;
  }
  c.reply.Integer(n);
}

void CmdExists(CommandContext& c) {
  int64_t n = 0;
  for (size_t i = 1; i < c.argv.size(); i++) {
    std::optional<kv::LiveValue> v;
    if (ReplyIfError(c, c.ks.GetLive(c.argv[i], &v))) return;
    n += v ? 1 : 0;
  }
  c.reply.Integer(n);
}

void CmdType(CommandContext& c) {
  std::optional<kv::LiveValue> v;
  if (ReplyIfError(c, c.ks.GetLive(c.argv[1], &v))) return;
  c.reply.Simple(v ? "string" : "none");
}

// EXPIRE's NX/XX/GT/LT.
struct ExpireFlags {
  bool nx = false, xx = false, gt = false, lt = false;
};

// Parses the flags after the time; false after replying the error.
bool ParseExpireFlags(CommandContext& c, ExpireFlags* f) {
  for (size_t i = 3; i < c.argv.size(); i++) {
    std::string o = ToLower(c.argv[i]);
    if (o == "nx") {
      f->nx = true;
    } else if (o == "xx") {
      f->xx = true;
    } else if (o == "gt") {
      f->gt = true;
    } else if (o == "lt") {
      f->lt = true;
    } else {
      c.reply.Error(err::UnsupportedOption(c.argv[i]));
      return false;
    }
  }
  if (f->nx && (f->xx || f->gt || f->lt)) {
    c.reply.Error(err::kExpireNxAndOthers);
    return false;
  }
  if (f->gt && f->lt) {
    c.reply.Error(err::kExpireGtAndLt);
    return false;
  }
  return true;
}

// The absolute expiry in ms `when` asks for (seconds or ms, relative or absolute); false after
// replying Redis's error when it overflows.
bool ExpireAtMs(CommandContext& c, int64_t when, bool seconds, bool absolute, const char* name,
                int64_t* out) {
  int64_t ms = when;
  if (seconds) {
    if (when > INT64_MAX / 1000 || when < INT64_MIN / 1000) {
      c.reply.Error(err::InvalidExpireTime(name));
      return false;
    }
    ms = when * 1000;
  }
  if (!absolute) {
    int64_t now = c.ks.NowMs();
    if ((ms > 0 && ms > INT64_MAX - now) || (ms < 0 && ms < INT64_MIN + now)) {
      c.reply.Error(err::InvalidExpireTime(name));
      return false;
    }
    ms += now;
  }
  *out = ms;
  return true;
}

// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT with NX/XX/GT/LT (Redis 7 semantics).
void ExpireGeneric(CommandContext& c, bool seconds, bool absolute, const char* name) {
  int64_t when;
  if (!ParseInt64(c.argv[2], &when)) {
    c.reply.Error(err::kNotInteger);
    return;
  }
  ExpireFlags f;
  if (!ParseExpireFlags(c, &f)) return;
  int64_t ms;
  if (!ExpireAtMs(c, when, seconds, absolute, name, &ms)) return;
  bool changed = false;
  Status st = c.ks.Mutate(c.argv[1], [&](const std::optional<kv::LiveValue>& v) {
    if (!v) return kv::Keyspace::Mutation::Keep();
    int64_t cur = v->expire_at_ms;  // 0 = persistent, treated as an infinite TTL
    if ((f.nx && cur != 0) || (f.xx && cur == 0) || (f.gt && (cur == 0 || ms <= cur)) ||
        (f.lt && cur != 0 && ms >= cur)) {
      return kv::Keyspace::Mutation::Keep();
    }
    changed = true;
    // A time in the past deletes the key, as in Redis.
    return ms <= c.ks.NowMs() ? kv::Keyspace::Mutation::Delete()
                         : kv::Keyspace::Mutation::Put(v->value, ms);
  });
  if (ReplyIfError(c, st)) return;
  c.reply.Integer(changed ? 1 : 0);
}

void CmdExpire(CommandContext& c) { ExpireGeneric(c, true, false, "expire"); }
void CmdPExpire(CommandContext& c) { ExpireGeneric(c, false, false, "pexpire"); }
void CmdExpireAt(CommandContext& c) { ExpireGeneric(c, true, true, "expireat"); }
void CmdPExpireAt(CommandContext& c) { ExpireGeneric(c, false, true, "pexpireat"); }

// TTL family: -2 missing, -1 persistent.
void TtlGeneric(CommandContext& c, bool ms, bool absolute) {
  std::optional<kv::LiveValue> v;
  if (ReplyIfError(c, c.ks.GetLive(c.argv[1], &v))) return;
  if (!v) {
    c.reply.Integer(-2);
  } else if (v->expire_at_ms == 0) {
    c.reply.Integer(-1);
  } else if (absolute) {
    c.reply.Integer(ms ? v->expire_at_ms : v->expire_at_ms / 1000);
  } else {
    int64_t left = v->expire_at_ms - c.ks.NowMs();
    if (left < 0) left = 0;
    c.reply.Integer(ms ? left : (left + 500) / 1000);
  }
}

void CmdTtl(CommandContext& c) { TtlGeneric(c, false, false); }
void CmdPTtl(CommandContext& c) { TtlGeneric(c, true, false); }
void CmdExpireTime(CommandContext& c) { TtlGeneric(c, false, true); }
void CmdPExpireTime(CommandContext& c) { TtlGeneric(c, true, true); }

void CmdPersist(CommandContext& c) {
  bool changed = false;
  Status st = c.ks.Mutate(c.argv[1], [&](const std::optional<kv::LiveValue>& v) {
    if (!v || v->expire_at_ms == 0) return kv::Keyspace::Mutation::Keep();
    changed = true;
    return kv::Keyspace::Mutation::Put(v->value, 0);
  });
  if (ReplyIfError(c, st)) return;
  c.reply.Integer(changed ? 1 : 0);
}

void CmdKeys(CommandContext& c) {
  const std::string& pattern = c.argv[1];
  bool all = pattern == "*";
  std::vector<std::string> keys;
  int64_t now = c.ks.NowMs();
  Status s = c.node.store().Scan("", [&](std::string_view k, std::string_view v) {
    std::string_view user = storage::UserKeyOf(k);
    if ((all || GlobMatch(pattern, user)) && kv::RecordIsLive(v, now)) keys.emplace_back(user);
    return true;
  });
  if (ReplyIfError(c, s)) return;
  c.reply.Array(keys.size());
  for (const auto& k : keys) c.reply.Bulk(k);
}

// SCAN walks the keyspace a partition at a time: the cursor is the next partition, and a call
// returns whole partitions until COUNT keys are gathered, so a key present for the whole
// iteration is always returned.
// SCAN's cursor: an unsigned decimal; false after replying the error.
bool ParseScanCursor(CommandContext& c, uint64_t* cursor) {
  const std::string& a = c.argv[1];
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(a.c_str(), &end, 10);
  if (a.empty() || end != a.c_str() + a.size() || errno == ERANGE || a[0] == '-') {
    c.reply.Error(err::kInvalidCursor);
    return false;
  }
  *cursor = v;
  return true;
}

// SCAN's MATCH, COUNT and TYPE.
struct ScanOptions {
  std::string pattern;
  bool has_pattern = false;
  int64_t count = 10;
  std::string type;
};

// Parses the options after the cursor; false after replying the error.
bool ParseScanOptions(CommandContext& c, ScanOptions* o) {
  for (size_t i = 2; i < c.argv.size(); i++) {
    std::string opt = ToLower(c.argv[i]);
    bool more = i + 1 < c.argv.size();
    if (opt == "match" && more) {
      o->pattern = c.argv[++i];
      o->has_pattern = o->pattern != "*";
    } else if (opt == "count" && more) {
      if (!ParseInt64(c.argv[++i], &o->count)) {
        c.reply.Error(err::kNotInteger);
        return false;
      }
      if (o->count < 1) {
        c.reply.Error(err::kSyntax);
        return false;
      }
    } else if (opt == "type" && more) {
      o->type = ToLower(c.argv[++i]);
    } else {
      c.reply.Error(err::kSyntax);
      return false;
    }
  }
  return true;
}

void CmdScan(CommandContext& c) {
  uint64_t cursor = 0;
  if (!ParseScanCursor(c, &cursor)) return;
  ScanOptions o;
  if (!ParseScanOptions(c, &o)) return;
  uint32_t q = c.node.keyspace_shared().partitions;
  std::vector<std::string> keys;
  int64_t now = c.ks.NowMs();
  uint64_t p = cursor;
  for (; p < q && static_cast<int64_t>(keys.size()) < o.count; p++) {
    std::string start = storage::DataKey(static_cast<uint32_t>(p), "");
    Status s = c.node.store().Scan(start, [&](std::string_view k, std::string_view v) {
      if (storage::PartitionOfDataKey(k) != p) return false;
      std::string_view user = storage::UserKeyOf(k);
      if (o.has_pattern && !GlobMatch(o.pattern, user)) return true;
      if (!o.type.empty() && o.type != "string") return true;
      if (kv::RecordIsLive(v, now)) keys.emplace_back(user);
      return true;
    });
    if (ReplyIfError(c, s)) return;
  }
  uint64_t next = p >= q ? 0 : p;
  c.reply.Array(2);
  c.reply.Bulk(std::to_string(next));
  c.reply.Array(keys.size());
  for (const auto& k : keys) c.reply.Bulk(k);
}

void CmdRandomKey(CommandContext& c) {
  uint32_t q = c.node.keyspace_shared().partitions;
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  uint32_t first = static_cast<uint32_t>(rng() % q);
  int64_t now = c.ks.NowMs();
  std::string found;
  bool have = false;
  // From a random partition onwards, wrapping around once.
  for (int round = 0; round < 2 && !have; round++) {
    std::string start = round == 0 ? storage::DataKey(first, "") : "";
    Status s = c.node.store().Scan(start, [&](std::string_view k, std::string_view v) {
      if (round == 1 && storage::PartitionOfDataKey(k) >= first) return false;
      if (kv::RecordIsLive(v, now)) {
        found = std::string(storage::UserKeyOf(k));
        have = true;
        return false;
      }
      return true;
    });
    if (ReplyIfError(c, s)) return;
  }
  if (have) {
    c.reply.Bulk(found);
  } else {
    c.reply.NullBulk();
  }
}

void RenameGeneric(CommandContext& c, bool nx) {
  std::optional<kv::LiveValue> src;
  if (ReplyIfError(c, c.ks.GetLive(c.argv[1], &src))) return;
  if (!src) {
    c.reply.Error(err::kNoSuchKey);
    return;
  }
  if (c.argv[1] == c.argv[2]) {
    if (nx) {
      c.reply.Integer(0);
    } else {
      c.reply.Ok();
    }
    return;
  }
  if (nx) {
    std::optional<kv::LiveValue> dst;
    if (ReplyIfError(c, c.ks.GetLive(c.argv[2], &dst))) return;
    if (dst) {
      c.reply.Integer(0);
      return;
    }
  }
  if (ReplyIfError(c, c.ks.Put(c.argv[2], src->value, src->expire_at_ms))) return;
  bool existed;
  if (ReplyIfError(c, c.ks.Delete(c.argv[1], &existed))) return;
  if (nx) {
    c.reply.Integer(1);
  } else {
    c.reply.Ok();
  }
}

void CmdRename(CommandContext& c) { RenameGeneric(c, false); }
void CmdRenameNx(CommandContext& c) { RenameGeneric(c, true); }

void CmdCopy(CommandContext& c) {
  bool replace = false;
  for (size_t i = 3; i < c.argv.size(); i++) {
    std::string o = ToLower(c.argv[i]);
    if (o == "replace") {
      replace = true;
    } else if (o == "db" && i + 1 < c.argv.size()) {
      int64_t db;
      if (!ParseInt64(c.argv[++i], &db)) {
        c.reply.Error(err::kNotInteger);
        return;
      }
      if (db != 0) {
        c.reply.Error(err::kCopyToOtherDb);
        return;
      }
    } else {
      c.reply.Error(err::kSyntax);
      return;
    }
  }
  if (c.argv[1] == c.argv[2]) {
    c.reply.Error(err::kSameObject);
    return;
  }
  std::optional<kv::LiveValue> src;
  if (ReplyIfError(c, c.ks.GetLive(c.argv[1], &src))) return;
  if (!src) {
    c.reply.Integer(0);
    return;
  }
  if (!replace) {
    std::optional<kv::LiveValue> dst;
    if (ReplyIfError(c, c.ks.GetLive(c.argv[2], &dst))) return;
    if (dst) {
      c.reply.Integer(0);
      return;
    }
  }
  if (ReplyIfError(c, c.ks.Put(c.argv[2], src->value, src->expire_at_ms))) return;
  c.reply.Integer(1);
}

}  // namespace

// One command per declaration reads as a table.
// clang-format off
void RegisterKeyCommands(std::vector<CommandSpec>* out) {
  const uint32_t w = kCmdWrite;
  const uint32_t r = kCmdReadOnly;
  const std::vector<ArgDoc> key = {{"key", "key"}};
  const std::vector<ArgDoc> keys = {{"key", "key", nullptr, false, true}};
  out->push_back({"del", -2, w | kCmdSplitSum, 1, -1, 1, CmdDel, "generic", "Delete a key",
                  "1.0.0", "O(N) where N is the number of keys that will be removed", keys, {},
                  "@keyspace @write @slow"});
  out->push_back({"unlink", -2, w | kCmdFast | kCmdSplitSum, 1, -1, 1, CmdDel, "generic",
                  "Delete a key asynchronously in another thread. Otherwise it is just as DEL, "
                  "but non blocking.",
                  "4.0.0", "O(1) for each key removed regardless of its size.", keys, {},
                  "@keyspace @write @fast"});
  out->push_back({"exists", -2, r | kCmdFast | kCmdSplitSum, 1, -1, 1, CmdExists, "generic",
                  "Determine if a key exists", "1.0.0",
                  "O(N) where N is the number of keys to check.", keys, {},
                  "@keyspace @read @fast"});
  out->push_back({"touch", -2, r | kCmdFast | kCmdSplitSum, 1, -1, 1, CmdExists, "generic",
                  "Alters the last access time of a key(s). Returns the number of existing keys "
                  "specified.",
                  "3.2.1", "O(N) where N is the number of keys that will be touched.", keys, {},
                  "@keyspace @read @fast"});
  out->push_back({"type", 2, r | kCmdFast, 1, 1, 1, CmdType, "generic",
                  "Determine the type stored at key", "1.0.0", "O(1)", key, {},
                  "@keyspace @read @fast"});
  const std::vector<ArgDoc> cond = {
      {"condition", "oneof", nullptr, true, false,
       {{"nx", "pure-token", "NX"},
        {"xx", "pure-token", "XX"},
        {"gt", "pure-token", "GT"},
        {"lt", "pure-token", "LT"}}}};
  auto expire_args = [&](const char* name, const char* type) {
    std::vector<ArgDoc> a = {{"key", "key"}, {name, type}};
    a.push_back(cond[0]);
    return a;
  };
  out->push_back({"expire", -3, w | kCmdFast, 1, 1, 1, CmdExpire, "generic",
                  "Set a key's time to live in seconds", "1.0.0", "O(1)",
                  expire_args("seconds", "integer"), {}, "@keyspace @write @fast"});
  out->push_back({"pexpire", -3, w | kCmdFast, 1, 1, 1, CmdPExpire, "generic",
                  "Set a key's time to live in milliseconds", "2.6.0", "O(1)",
                  expire_args("milliseconds", "integer"), {}, "@keyspace @write @fast"});
  out->push_back({"expireat", -3, w | kCmdFast, 1, 1, 1, CmdExpireAt, "generic",
                  "Set the expiration for a key as a UNIX timestamp", "1.2.0", "O(1)",
                  expire_args("unix-time-seconds", "unix-time"), {}, "@keyspace @write @fast"});
  out->push_back({"pexpireat", -3, w | kCmdFast, 1, 1, 1, CmdPExpireAt, "generic",
                  "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
                  "2.6.0", "O(1)", expire_args("unix-time-milliseconds", "unix-time"), {},
                  "@keyspace @write @fast"});
  out->push_back({"ttl", 2, r | kCmdFast, 1, 1, 1, CmdTtl, "generic",
                  "Get the time to live for a key in seconds", "1.0.0", "O(1)", key, {},
                  "@keyspace @read @fast"});
  out->push_back({"pttl", 2, r | kCmdFast, 1, 1, 1, CmdPTtl, "generic",
                  "Get the time to live for a key in milliseconds", "2.6.0", "O(1)", key, {},
                  "@keyspace @read @fast"});
  out->push_back({"expiretime", 2, r | kCmdFast, 1, 1, 1, CmdExpireTime, "generic",
                  "Get the expiration Unix timestamp for a key", "7.0.0", "O(1)", key, {},
                  "@keyspace @read @fast"});
  out->push_back({"pexpiretime", 2, r | kCmdFast, 1, 1, 1, CmdPExpireTime, "generic",
                  "Get the expiration Unix timestamp for a key in milliseconds", "7.0.0", "O(1)",
                  key, {}, "@keyspace @read @fast"});
  out->push_back({"persist", 2, w | kCmdFast, 1, 1, 1, CmdPersist, "generic",
                  "Remove the expiration from a key", "2.2.0", "O(1)", key, {},
                  "@keyspace @write @fast"});
  out->push_back({"keys", 2, r | kCmdAllKeys, 0, 0, 0, CmdKeys, "generic",
                  "Find all keys matching the given pattern", "1.0.0",
                  "O(N) with N being the number of keys in the database",
                  {{"pattern", "pattern"}}, {}, "@keyspace @read @slow @dangerous"});
  out->push_back({"scan", -2, r | kCmdAllKeys, 0, 0, 0, CmdScan, "generic",
                  "Incrementally iterate the keys space", "2.8.0",
                  "O(1) for every call. O(N) for a complete iteration.",
                  {{"cursor", "integer"},
                   {"pattern", "pattern", "MATCH", true},
                   {"count", "integer", "COUNT", true},
                   {"type", "string", "TYPE", true}},
                  {}, "@keyspace @read @slow"});
  out->push_back({"randomkey", 1, r | kCmdAllKeys, 0, 0, 0, CmdRandomKey, "generic",
                  "Return a random key from the keyspace", "1.0.0", "O(1)", {}, {},
                  "@keyspace @read @slow"});
  out->push_back({"rename", 3, w, 1, 2, 1, CmdRename, "generic", "Rename a key", "1.0.0", "O(1)",
                  {{"key", "key"}, {"newkey", "key"}}, {}, "@keyspace @write @slow"});
  out->push_back({"renamenx", 3, w | kCmdFast, 1, 2, 1, CmdRenameNx, "generic",
                  "Rename a key, only if the new key does not exist", "1.0.0", "O(1)",
                  {{"key", "key"}, {"newkey", "key"}}, {}, "@keyspace @write @fast"});
  out->push_back({"copy", -3, w, 1, 2, 1, CmdCopy, "generic", "Copy a key", "6.2.0",
                  "O(N) worst case for collections, where N is the number of nested items. O(1) "
                  "for string values.",
                  {{"source", "key"},
                   {"destination", "key"},
                   {"destination-db", "integer", "DB", true},
                   {"replace", "pure-token", "REPLACE", true}},
                  {}, "@keyspace @write @slow"});
}
// clang-format on

}  // namespace dynis
