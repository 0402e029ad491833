// How a command is coordinated in a cluster, read from the command table: whether it reads the
// key's replicas before running, and the R and W it asks for (replication/coordinator.h runs
// the plan).
#pragma once

#include <string>
#include <vector>

#include "commands/command.h"
#include "replication/coordinator.h"

namespace dynis {

// Commands that read, and writes that depend on the current value, read first; a
// kCmdBlindWrite does not, unless it names one of its `reads_with` options (SET NX).
bool CommandReadsFirst(const CommandSpec& spec, const std::vector<std::string>& argv);

// The plan of one command (or one key's part of a split one): its distinct keys, whether it
// reads first, and R / W (the request's own "R n" / "W n", else the defaults). A malformed
// option plans no read: the command's handler replies the error.
replication::CommandPlan PlanCommand(const CommandSpec& spec, const std::vector<std::string>& argv,
                                     int read_quorum, int write_quorum, int replicas);

}  // namespace dynis
