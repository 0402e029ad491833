// A local dynis cluster for integration tests: n real dynis-server processes on loopback, each
// listing every node's cluster port in --cluster-nodes, sharing one secret.
//
//   TestCluster cl(3);                       // started, formed (every node knows every node)
//   Client c = cl.Connect(0);
//   cl.node(2).Pause();                      // SIGSTOP one node
//   cl.LocalValues(2, "k");                  // DYNIS LOCALCTX: that node's replica only
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "harness.h"

namespace dynis::test {

inline constexpr char kClusterSecret[] = "itest-cluster-secret";

class TestCluster {
 public:
  // `extra` is added to every node's arguments (e.g. {"--replicas", "3"}). Waits until the
  // cluster is formed. Every node names every node as a seed, or with `one_seed` every node
  // names node 0 only (node 0 names itself), so the others must be learned.
  explicit TestCluster(int n, std::vector<std::string> extra = {}, bool one_seed = false);
  // The same, with `per_node[i]` added to node i's arguments only (e.g. {"--node-id", "a"}, so
  // that a node whose data dir is wiped comes back under the same id). `per_node` may be
  // shorter than n.
  TestCluster(int n, std::vector<std::string> extra, std::vector<std::vector<std::string>> per_node,
              bool one_seed = false);

  // Starts one more node, with the same extra arguments, naming only node `seed`'s cluster
  // port in --cluster-nodes; returns its index. Does not wait for the others to learn it.
  int AddNode(int seed);

  int size() const { return static_cast<int>(nodes_.size()); }
  TestServer& node(int i) { return *nodes_[i]; }
  int cluster_port(int i) const { return cports_[i]; }
  Client Connect(int i, double timeout_s = kReplyTimeoutS) { return nodes_[i]->Connect(timeout_s); }

  // Waits until every running node knows `size()` members, has a live link to every running
  // node, and routes keys. False on timeout.
  bool WaitFormed(double timeout_s = 30);
  // The state node `from` reports for node `to` in DYNIS NODES ("self", "connected",
  // "connecting", "down"), "" on error.
  std::string LinkState(int from, int to);
  // Whether node `from` holds node `to` as a full member ("member") or as "joining" (it takes
  // no partitions) in DYNIS NODES; "" when `from` does not list `to`.
  std::string Membership(int from, int to);
  // The number of nodes node i lists in DYNIS NODES (0 on error).
  size_t KnownNodes(int i);
  // Indexes of the nodes in key's preference list, in order (asked to node `via`).
  std::vector<int> Preflist(const std::string& key, int via = 0);
  // The values of key held by node i's own replica (DYNIS LOCALCTX), sorted.
  std::vector<std::string> LocalValues(int i, const std::string& key);
  // Node logs for failure messages.
  std::string Logs(int lines = 15) const;
  // Deletes node i's data directory (everything it stored, its node id and epoch unless given
  // by --node-id). The node must be stopped; Restart() then starts it on an empty dir.
  void WipeData(int i);
  // Node i's id (DYNIS NODE), "" on error.
  std::string NodeId(int i);
  // The sum of an integer INFO dynis field over the running nodes (absent fields count -1).
  long long SumInfoField(const std::string& field);

 private:
  // A port distinct from every port this cluster uses (FreePort may repeat one while nothing
  // listens on it).
  int DistinctFreePort() const;
  // Field `field` of node `to`'s entry in node `from`'s DYNIS NODES, "" when absent.
  std::string NodeField(int from, int to, const std::string& field);

  std::vector<std::string> extra_;
  std::vector<std::vector<std::string>> per_node_;
  std::vector<int> ports_;
  std::vector<int> cports_;
  std::vector<std::unique_ptr<TestServer>> nodes_;
};

// The value of field `name` in a map reply (RESP2: a flat array of name, value...).
Reply MapField(const Reply& map, const std::string& name);
// An integer field of INFO dynis; -1 when absent.
long long InfoField(Client& c, const std::string& field);

}  // namespace dynis::test
