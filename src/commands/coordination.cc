#include "commands/coordination.h"

#include <algorithm>
#include <string_view>

#include "commands/util.h"

namespace dynis {

namespace {

// Whether `word` is one of the space-separated options in `list` (any case).
bool Listed(std::string_view list, std::string_view word) {
  while (!list.empty()) {
    size_t end = list.find(' ');
    if (EqualsIgnoreCase(list.substr(0, end), word)) return true;
    if (end == std::string_view::npos) break;
    list.remove_prefix(end + 1);
  }
  return false;
}

}  // namespace

bool CommandReadsFirst(const CommandSpec& spec, const std::vector<std::string>& argv) {
  if (!(spec.flags & kCmdWrite) || !(spec.flags & kCmdBlindWrite)) return true;
  const size_t fixed = static_cast<size_t>(std::abs(spec.arity));
  for (size_t i = fixed; i < argv.size(); i++) {
    if (Listed(spec.reads_with, argv[i])) return true;
  }
  return false;
}

replication::CommandPlan PlanCommand(const CommandSpec& spec, const std::vector<std::string>& argv,
                                     int read_quorum, int write_quorum, int replicas) {
  replication::CommandPlan plan;
  StatusOr<QuorumOption> q = CommandQuorumOption(spec, argv, replicas);
  const QuorumOption asked = q.ok() ? *q : QuorumOption{};
  plan.r = asked.q != 0 ? asked.q : read_quorum;
  plan.w = asked.q != 0 ? asked.q : write_quorum;
  (spec.flags & kCmdQuorumR ? plan.pr : plan.pw) = asked.pq;
  plan.read_first = q.ok() && CommandReadsFirst(spec, argv);
  if (!plan.read_first) return plan;
  for (int k : CommandKeyPositions(spec, argv)) {
    const std::string& key = argv[k];
    if (std::find(plan.keys.begin(), plan.keys.end(), key) == plan.keys.end()) {
      plan.keys.push_back(key);
    }
  }
  return plan;
}

}  // namespace dynis
