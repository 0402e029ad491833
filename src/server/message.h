// What travels between workers: a Message asks a worker to run a command (kExec) or tells the
// connection's worker that a part of its reply is ready (kDone). A Slot is one reply in a
// connection's order that waits for other workers; a split command's parts are joined into it
// by CombineParts. Slots are shared between the connection's worker (remaining, ready, data)
// and the workers that write their own part; the message hand-off orders those writes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "commands/command.h"

namespace dynis::server {

// One reply in a connection's order that is not ready yet: it waits for other workers.
struct Slot {
  std::vector<std::string> parts;  // one per forwarded part, written by the owning worker
  int remaining = 0;               // parts not back yet (connection's worker only)
  uint32_t combine = 0;            // 0, kCmdSplitSum, kCmdSplitArray, kCmdSplitOk or kCombineExec
  static constexpr uint32_t kCombineExec = 1u << 31;  // EXEC in a cluster: parts verbatim
  bool ready = false;
  std::string data;  // the reply once ready
};

// Joins the per-part replies of a split command into the reply the client expects.
void CombineParts(Slot* slot);

// A message between workers.
struct Message {
  enum class Kind { kExec, kDone } kind = Kind::kExec;  // run a command; its reply is ready
  int origin = 0;                                       // worker of the connection
  uint64_t client_id = 0;
  std::shared_ptr<Slot> slot;
  int part = 0;
  std::vector<std::string> argv;  // kExec
  const CommandSpec* spec = nullptr;
  int resp = 2;
  bool coordinate = false;  // kExec in a cluster: coordinate the command's replication
};

}  // namespace dynis::server
