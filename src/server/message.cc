#include "server/message.h"

#include <cstdlib>

namespace dynis::server {

// Joins the per-key replies of a split multi-key command into the reply the client expects.
void CombineParts(Slot* slot) {
  if (slot->combine == Slot::kCombineExec) {
    slot->data = "*" + std::to_string(slot->parts.size()) + "\r\n";
    for (const auto& p : slot->parts) slot->data += p;
    return;
  }
  for (const auto& p : slot->parts) {
    if (!p.empty() && p[0] == '-') {
      slot->data = p;
      return;
    }
  }
  if (slot->combine == kCmdSplitSum) {
    long long sum = 0;
    for (const auto& p : slot->parts) sum += std::strtoll(p.c_str() + 1, nullptr, 10);
    slot->data = ":" + std::to_string(sum) + "\r\n";
  } else if (slot->combine == kCmdSplitArray) {
    slot->data = "*" + std::to_string(slot->parts.size()) + "\r\n";
    for (const auto& p : slot->parts) {
      size_t nl = p.find('\n');  // skip each part's "*1\r\n" header
      slot->data.append(p, nl + 1, std::string::npos);
    }
  } else if (slot->combine == kCmdSplitOk) {
    slot->data = "+OK\r\n";
  } else {
    slot->data = std::move(slot->parts[0]);
  }
}

}  // namespace dynis::server
