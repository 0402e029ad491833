#include "replication/replica.h"

#include <optional>
#include <string>

#include "common/errors.h"

namespace dynis::replication {

Message ServeReplica(kv::Vnode& vnode, const Message& req) {
  Message resp;
  resp.from = req.to;
  resp.to = req.from;
  resp.op = req.op;
  resp.key = req.key;
  resp.repair = req.repair;  // lets the coordinator drop repair acks without a lookup
  resp.handoff = req.handoff;
  resp.aae = req.aae;
  switch (req.type) {
    case Message::Type::kGetReq: {
      // The stored bytes as they are: the coordinator decodes them and counts a record that
      // does not decode as a failed answer.
      resp.type = Message::Type::kGetResp;
      std::optional<std::string> record;
      if (!vnode.Get(req.key, &record).ok()) {
        resp.ok = false;
        resp.error = err::kReplicaReadFailed;
        return resp;
      }
      resp.found = record.has_value();
      if (record) resp.record = std::move(*record);
      return resp;
    }
    case Message::Type::kPutReq: {
      resp.type = Message::Type::kPutResp;
      kv::ReplicaPut put = req.hint_for != 0 ? vnode.PutHint(req.hint_for, req.key, req.record)
                                             : vnode.Put(req.key, req.record);
      resp.ok = put.ok;
      resp.error = std::move(put.error);
      return resp;
    }
    case Message::Type::kProbeReq:
      resp.type = Message::Type::kProbeResp;
      return resp;
    case Message::Type::kGetResp:
    case Message::Type::kPutResp:
    case Message::Type::kProbeResp:
      break;
  }
  // Not a request: a failure of the same type, so a confused peer learns nothing was done.
  resp.type = req.type;
  resp.ok = false;
  return resp;
}

}  // namespace dynis::replication
