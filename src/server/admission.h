// Admission: the checks a parsed command passes, in order, before it runs (admission.cc):
// the HTTP guard, the cluster port's peer authentication, DYNIS.FWD's unwrapping, lookup
// (command, subcommand), arity, AUTH, MULTI (refused or queued) and QUIT. Each step either
// lets the command on or answers it; what passes is routed (routing.cc). Worker's thread only.
#pragma once

namespace dynis::server {

// What an admission step decided.
enum class Admission {
  kRun,       // on to the next step; after the last, the command runs
  kAnswered,  // answered (an error, +QUEUED): the connection reads its next command
  kStop,      // the connection stops processing input (closing, or closes after the reply)
};

}  // namespace dynis::server
