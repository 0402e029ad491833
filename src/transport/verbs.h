// The peer verbs of the replication protocol: the one translation between engine messages
// (replication/engine.h) and what travels on a peer link.
//
//   DYNIS.GETREC key          -> the stored record (bulk), nil when absent, or an error
//   DYNIS.PUTREC key record   -> +OK once the merge is committed, or an error saying why
//
// A coordinator encodes its requests with RequestArgv and decodes the reply with ResponseOf; a
// replica's command handlers decode with ParseRequest and answer with WriteResponse.
#pragma once

#include <string>
#include <vector>

#include "proto/reply.h"
#include "proto/reply_parser.h"
#include "replication/engine.h"

namespace dynis::transport {

// The argv of a kGetReq or kPutReq.
std::vector<std::string> RequestArgv(const replication::Message& req);
// The response message to `req` carried by a peer's reply.
replication::Message ResponseOf(const replication::Message& req, const proto::Reply& reply);

// A request from a peer's verb (argv as the command table checked it); `from` is unknown on
// this side and left 0. False for another command.
bool ParseRequest(const std::vector<std::string>& argv, replication::Message* req);
// The reply carrying a replica's response.
void WriteResponse(const replication::Message& resp, proto::ReplyWriter* w);

}  // namespace dynis::transport
