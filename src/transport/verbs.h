// The peer verbs: the one translation between what nodes tell each other (engine messages,
// replication/engine.h; membership, cluster/membership.h) and what travels on a peer link.
//
//   DYNIS.GETREC key          -> the stored record (bulk), nil when absent, or an error
//   DYNIS.PUTREC key record [HINT primary-id]
//                             -> +OK once the merge is committed, or an error saying why; with
//                                HINT, kept as a hint for that primary (the peer is a fallback)
//   PING                      -> the failure detector's probe of a peer it holds down
//   DYNIS.AAE partition ROOT|BRANCHES|HINTS
//   DYNIS.AAE partition SEGMENTS|KEYS packed-indexes [after-key (KEYS: the page's start)]
//   DYNIS.AAE partition REAPCHECK|REAPDROP key hash [key hash ...]
//                             -> anti-entropy (replication/anti_entropy.h): hashes as one bulk
//                                of 8-byte big-endian words; KEYS answers [truncated, key, hash,
//                                ...]; HINTS an integer; REAP* one byte (0/1) per key; indexes
//                                travel as 2-byte big-endian words in one argument
//   DYNIS.MEET name host cport port
//                             -> the members the peer knows: [name, host, cport, port] each,
//                                with a fifth element (member|joining) once it is sealed
//
// A coordinator encodes its requests with RequestArgv and decodes the reply with ResponseOf; a
// replica's command handlers decode with ParseRequest and answer with WriteResponse. MEET is
// sent with MeetArgv, served with ParseMeet and WriteMembers, and its answer read with
// ParseMembers.
#pragma once

#include <string>
#include <vector>

#include "cluster/membership.h"
#include "proto/reply.h"
#include "proto/reply_parser.h"
#include "replication/anti_entropy.h"
#include "replication/engine.h"

namespace dynis::transport {

// The argv of a kGetReq or kPutReq.
std::vector<std::string> RequestArgv(const replication::Message& req);
// What decoding the reply to `req` needs: its identity (type, ends, op, key, repair and handoff
// flags) without its record, kept by the send's callback.
replication::Message RequestIdentity(const replication::Message& req);
// The response message to `req` carried by a peer's reply.
replication::Message ResponseOf(const replication::Message& req, const proto::Reply& reply);

// A request from a peer's verb (argv as the command table checked it); `from` is unknown on
// this side and left 0. False for another command.
bool ParseRequest(const std::vector<std::string>& argv, replication::Message* req);
// The reply carrying a replica's response.
void WriteResponse(const replication::Message& resp, proto::ReplyWriter* w);

// Anti-entropy's requests and answers, the same way round.
std::vector<std::string> AaeArgv(const replication::AaeRequest& req);
replication::AaeResponse AaeResponseOf(const replication::AaeRequest& req,
                                       const proto::Reply& reply);
bool ParseAae(const std::vector<std::string>& argv, replication::AaeRequest* req);
void WriteAaeResponse(const replication::AaeResponse& resp, proto::ReplyWriter* w);

// DYNIS.MEET carrying this node's identity.
std::vector<std::string> MeetArgv(const cluster::Member& self);
// The identity a MEET carries; false when an argument is malformed (a bad port, an empty or
// overlong name or host).
bool ParseMeet(const std::vector<std::string>& argv, cluster::Member* m);
// MEET's answer: the members of `view`, with their states when it is sealed.
void WriteMembers(const cluster::ClusterView& view, proto::ReplyWriter* w);
// What a MEET answer says. A malformed entry drops the states (heard.sealed false): a founding
// set missing one of its members would demote it.
cluster::Membership ParseMembers(const proto::Reply& reply);

}  // namespace dynis::transport
