#include "transport/verbs.h"

#include <strings.h>

#include "common/errors.h"
#include "common/hash.h"
#include "common/strings.h"

namespace dynis::transport {

using replication::Message;

std::vector<std::string> RequestArgv(const Message& req) {
  if (req.type == Message::Type::kGetReq) return {"DYNIS.GETREC", req.key};
  if (req.type == Message::Type::kProbeReq) return {"PING"};
  if (req.hint_for != 0) {
    return {"DYNIS.PUTREC", req.key, req.record, "HINT", std::to_string(req.hint_for)};
  }
  return {"DYNIS.PUTREC", req.key, req.record};
}

Message RequestIdentity(const Message& req) {
  Message id;
  id.type = req.type;
  id.from = req.from;
  id.to = req.to;
  id.op = req.op;
  id.key = req.key;
  id.repair = req.repair;
  id.handoff = req.handoff;
  id.aae = req.aae;
  return id;
}

Message ResponseOf(const Message& req, const proto::Reply& reply) {
  Message r;
  r.type = req.type == Message::Type::kGetReq     ? Message::Type::kGetResp
           : req.type == Message::Type::kProbeReq ? Message::Type::kProbeResp
                                                  : Message::Type::kPutResp;
  r.from = req.to;
  r.to = req.from;
  r.op = req.op;
  r.key = req.key;
  r.repair = req.repair;
  r.handoff = req.handoff;
  r.aae = req.aae;
  r.ok = reply.type != proto::Reply::Type::kError;
  if (!r.ok) r.error = reply.str;
  if (r.type == Message::Type::kGetResp && r.ok) {
    r.found = reply.type == proto::Reply::Type::kBulk;
    if (r.found) r.record = reply.str;
  }
  return r;
}

bool ParseRequest(const std::vector<std::string>& argv, Message* req) {
  if (argv.size() == 2 && strcasecmp(argv[0].c_str(), "dynis.getrec") == 0) {
    req->type = Message::Type::kGetReq;
  } else if ((argv.size() == 3 || argv.size() == 5) &&
             strcasecmp(argv[0].c_str(), "dynis.putrec") == 0) {
    req->type = Message::Type::kPutReq;
    req->record = argv[2];
    if (argv.size() == 5) {
      // HINT <primary id>: this node is a fallback keeping the record for that primary.
      uint64_t target = 0;
      if (strcasecmp(argv[3].c_str(), "hint") != 0 || !ParseUint64(argv[4], &target) ||
          target == 0) {
        return false;
      }
      req->hint_for = target;
    }
  } else {
    return false;
  }
  req->key = argv[1];
  return true;
}

void WriteResponse(const Message& resp, proto::ReplyWriter* w) {
  if (!resp.ok) {
    bool get = resp.type == Message::Type::kGetResp;
    if (!resp.error.empty()) {
      w->Error(resp.error);
    } else {
      w->Error(get ? err::kReplicaReadFailed : err::kReplicaMergeFailed);
    }
  } else if (resp.type == Message::Type::kPutResp) {
    w->Ok();
  } else if (resp.found) {
    w->Bulk(resp.record);
  } else {
    w->NullBulk();
  }
}

namespace {

using replication::AaeRequest;
using replication::AaeResponse;

struct AaeVerb {
  const char* name;
  AaeRequest::Type type;
};
constexpr AaeVerb kAaeVerbs[] = {
    {"ROOT", AaeRequest::Type::kRoot},           {"BRANCHES", AaeRequest::Type::kBranches},
    {"SEGMENTS", AaeRequest::Type::kSegments},   {"KEYS", AaeRequest::Type::kKeys},
    {"HINTS", AaeRequest::Type::kHints},         {"REAPCHECK", AaeRequest::Type::kReapCheck},
    {"REAPDROP", AaeRequest::Type::kReapDrop},
};

void PutU64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; i--) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetU64(std::string_view s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

}  // namespace

std::vector<std::string> AaeArgv(const AaeRequest& req) {
  std::vector<std::string> argv = {"DYNIS.AAE", std::to_string(req.partition)};
  for (const AaeVerb& v : kAaeVerbs) {
    if (v.type == req.type) argv.emplace_back(v.name);
  }
  if (req.type == AaeRequest::Type::kSegments || req.type == AaeRequest::Type::kKeys) {
    std::string packed;
    for (uint32_t i : req.items) {
      packed.push_back(static_cast<char>((i >> 8) & 0xff));
      packed.push_back(static_cast<char>(i & 0xff));
    }
    argv.push_back(std::move(packed));
    if (req.type == AaeRequest::Type::kKeys && !req.after.empty()) argv.push_back(req.after);
  }
  for (const auto& [key, hash] : req.keys) {
    argv.push_back(key);
    std::string h;
    PutU64(&h, hash);
    argv.push_back(std::move(h));
  }
  return argv;
}

bool ParseAae(const std::vector<std::string>& argv, AaeRequest* req) {
  *req = AaeRequest();
  if (argv.size() < 3 || strcasecmp(argv[0].c_str(), "dynis.aae") != 0) return false;
  uint64_t p = 0;
  if (!ParseUint64(argv[1], &p) || p >= (1u << 16)) return false;
  req->partition = static_cast<uint32_t>(p);
  const AaeVerb* verb = nullptr;
  for (const AaeVerb& v : kAaeVerbs) {
    if (strcasecmp(argv[2].c_str(), v.name) == 0) verb = &v;
  }
  if (verb == nullptr) return false;
  req->type = verb->type;
  switch (req->type) {
    case AaeRequest::Type::kRoot:
    case AaeRequest::Type::kBranches:
    case AaeRequest::Type::kHints:
      return argv.size() == 3;
    case AaeRequest::Type::kSegments:
    case AaeRequest::Type::kKeys: {
      // KEYS may name the key its page starts after.
      const size_t max_args = req->type == AaeRequest::Type::kKeys ? 5 : 4;
      if (argv.size() < 4 || argv.size() > max_args || argv[3].size() % 2 != 0) return false;
      if (argv.size() == 5) req->after = argv[4];
      const std::string& packed = argv[3];
      for (size_t i = 0; i < packed.size(); i += 2) {
        req->items.push_back((static_cast<uint32_t>(static_cast<uint8_t>(packed[i])) << 8) |
                             static_cast<uint8_t>(packed[i + 1]));
      }
      return true;
    }
    case AaeRequest::Type::kReapCheck:
    case AaeRequest::Type::kReapDrop:
      if ((argv.size() - 3) % 2 != 0) return false;
      for (size_t i = 3; i < argv.size(); i += 2) {
        if (argv[i + 1].size() != 8) return false;
        req->keys.emplace_back(argv[i], GetU64(argv[i + 1]));
      }
      return true;
  }
  return false;
}

void WriteAaeResponse(const AaeResponse& resp, proto::ReplyWriter* w) {
  if (!resp.ok) {
    w->Error(resp.error);
    return;
  }
  switch (resp.type) {
    case AaeRequest::Type::kRoot:
    case AaeRequest::Type::kBranches:
    case AaeRequest::Type::kSegments: {
      std::string packed;
      packed.reserve(8 * resp.hashes.size());
      for (uint64_t h : resp.hashes) PutU64(&packed, h);
      w->Bulk(packed);
      return;
    }
    case AaeRequest::Type::kKeys: {
      w->Array(1 + 2 * resp.keys.size());
      w->Integer(resp.truncated ? 1 : 0);
      std::string h;
      for (const auto& [key, hash] : resp.keys) {
        w->Bulk(key);
        h.clear();
        PutU64(&h, hash);
        w->Bulk(h);
      }
      return;
    }
    case AaeRequest::Type::kHints:
      w->Integer(static_cast<int64_t>(resp.count));
      return;
    case AaeRequest::Type::kReapCheck:
    case AaeRequest::Type::kReapDrop:
      w->Bulk(std::string_view(reinterpret_cast<const char*>(resp.held.data()), resp.held.size()));
      return;
  }
}

AaeResponse AaeResponseOf(const AaeRequest& req, const proto::Reply& reply) {
  using Type = proto::Reply::Type;
  AaeResponse r;
  r.type = req.type;
  r.op = req.op;
  r.from = req.to;
  auto bad = [&r]() {
    r.ok = false;
    r.error = "ERR malformed anti-entropy answer";
    r.hashes.clear();
    r.keys.clear();
    r.held.clear();
    return r;
  };
  if (reply.type == Type::kError) {
    r.ok = false;
    r.error = reply.str;
    return r;
  }
  switch (req.type) {
    case AaeRequest::Type::kRoot:
    case AaeRequest::Type::kBranches:
    case AaeRequest::Type::kSegments:
      if (reply.type != Type::kBulk || reply.str.size() % 8 != 0) return bad();
      for (size_t i = 0; i < reply.str.size(); i += 8) {
        r.hashes.push_back(GetU64(std::string_view(reply.str).substr(i, 8)));
      }
      return r;
    case AaeRequest::Type::kKeys:
      if (reply.type != Type::kArray || reply.elements.empty() ||
          reply.elements.size() % 2 != 1 || reply.elements[0].type != Type::kInteger) {
        return bad();
      }
      r.truncated = reply.elements[0].integer != 0;
      for (size_t i = 1; i < reply.elements.size(); i += 2) {
        const proto::Reply& k = reply.elements[i];
        const proto::Reply& h = reply.elements[i + 1];
        if (k.type != Type::kBulk || h.type != Type::kBulk || h.str.size() != 8) return bad();
        r.keys.emplace_back(k.str, GetU64(h.str));
      }
      return r;
    case AaeRequest::Type::kHints:
      if (reply.type != Type::kInteger || reply.integer < 0) return bad();
      r.count = static_cast<uint64_t>(reply.integer);
      return r;
    case AaeRequest::Type::kReapCheck:
    case AaeRequest::Type::kReapDrop:
      if (reply.type != Type::kBulk || reply.str.size() != req.keys.size()) return bad();
      r.held.assign(reply.str.begin(), reply.str.end());
      return r;
  }
  return bad();
}

std::vector<std::string> MeetArgv(const cluster::Member& self) {
  return {"DYNIS.MEET", self.name, self.host, std::to_string(self.cport),
          std::to_string(self.port)};
}

bool ParseMeet(const std::vector<std::string>& argv, cluster::Member* m) {
  int64_t cport = 0, port = 0;
  if (argv.size() != 5 || !ParseInt64(argv[3], &cport) || !ParseInt64(argv[4], &port) ||
      cport < 1 || cport > 65535 || port < 0 || port > 65535 || argv[1].empty() ||
      argv[1].size() > 128 || argv[2].empty() || argv[2].size() > 255) {
    return false;
  }
  m->name = argv[1];
  m->id = KeyHash(m->name);
  m->host = argv[2];
  m->cport = static_cast<int>(cport);
  m->port = static_cast<int>(port);
  return true;
}

void WriteMembers(const cluster::ClusterView& view, proto::ReplyWriter* w) {
  w->Array(view.members.size());
  for (const cluster::Member& x : view.members) {
    w->Array(view.sealed ? 5 : 4);
    w->Bulk(x.name);
    w->Bulk(x.host);
    w->Bulk(std::to_string(x.cport));
    w->Bulk(std::to_string(x.port));
    if (view.sealed) w->Bulk(cluster::MemberStateName(x.state));
  }
}

cluster::Membership ParseMembers(const proto::Reply& reply) {
  cluster::Membership heard;
  if (reply.type != proto::Reply::Type::kArray) return heard;
  bool states_ok = true, open = false;
  for (const proto::Reply& e : reply.elements) {
    size_t n = e.type == proto::Reply::Type::kArray ? e.elements.size() : 0;
    cluster::Member m;
    int64_t cport = 0, port = 0;
    if ((n != 4 && n != 5) || !ParseInt64(e.elements[2].str, &cport) ||
        !ParseInt64(e.elements[3].str, &port) ||
        (n == 5 && !cluster::ParseMemberState(e.elements[4].str, &m.state))) {
      states_ok = false;
      continue;
    }
    (n == 5 ? heard.sealed : open) = true;
    m.name = e.elements[0].str;
    m.id = KeyHash(m.name);
    m.host = e.elements[1].str;
    m.cport = static_cast<int>(cport);
    m.port = static_cast<int>(port);
    if (!cluster::ValidMember(m)) states_ok = false;
    heard.members.push_back(std::move(m));
  }
  if (!states_ok || open) heard.sealed = false;
  return heard;
}

}  // namespace dynis::transport
