#include "transport/verbs.h"

#include <strings.h>

#include "common/errors.h"

namespace dynis::transport {

using replication::Message;

std::vector<std::string> RequestArgv(const Message& req) {
  if (req.type == Message::Type::kGetReq) return {"DYNIS.GETREC", req.key};
  return {"DYNIS.PUTREC", req.key, req.record};
}

Message ResponseOf(const Message& req, const proto::Reply& reply) {
  Message r;
  r.type = req.type == Message::Type::kGetReq ? Message::Type::kGetResp : Message::Type::kPutResp;
  r.from = req.to;
  r.to = req.from;
  r.op = req.op;
  r.key = req.key;
  r.repair = req.repair;
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
  } else if (argv.size() == 3 && strcasecmp(argv[0].c_str(), "dynis.putrec") == 0) {
    req->type = Message::Type::kPutReq;
    req->record = argv[2];
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

}  // namespace dynis::transport
