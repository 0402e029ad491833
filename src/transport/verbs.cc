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
