#include "cluster_harness.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

namespace dynis::test {

Reply MapField(const Reply& map, const std::string& name) {
  for (size_t i = 0; i + 1 < map.Size(); i += 2) {
    if (map[i].Str() == name) return map[i + 1];
  }
  return Reply();
}

int TestCluster::DistinctFreePort() const {
  int p;
  do {
    p = FreePort();
  } while (std::find(ports_.begin(), ports_.end(), p) != ports_.end() ||
           std::find(cports_.begin(), cports_.end(), p) != cports_.end());
  return p;
}

long long InfoField(Client& c, const std::string& field) {
  std::string info = c.Cmd({"INFO", "dynis"}).Str();
  size_t at = info.find(field + ":");
  if (at == std::string::npos) return -1;
  return std::stoll(info.substr(at + field.size() + 1));
}

TestCluster::TestCluster(int n, std::vector<std::string> extra, bool one_seed)
    : TestCluster(n, std::move(extra), {}, one_seed) {}

TestCluster::TestCluster(int n, std::vector<std::string> extra,
                         std::vector<std::vector<std::string>> per_node, bool one_seed)
    : extra_(std::move(extra)), per_node_(std::move(per_node)) {
  for (int i = 0; i < n; i++) {
    ports_.push_back(DistinctFreePort());
    cports_.push_back(DistinctFreePort());
  }
  std::string seeds;
  for (int cp : cports_) seeds += (seeds.empty() ? "" : " ") + ("127.0.0.1:" + std::to_string(cp));
  if (one_seed) seeds = "127.0.0.1:" + std::to_string(cports_[0]);
  for (int i = 0; i < n; i++) {
    std::vector<std::string> args = {"--cluster-port",   std::to_string(cports_[i]),
                                     "--cluster-nodes",  seeds,
                                     "--cluster-secret", kClusterSecret};
    args.insert(args.end(), extra_.begin(), extra_.end());
    if (static_cast<size_t>(i) < per_node_.size()) {
      args.insert(args.end(), per_node_[i].begin(), per_node_[i].end());
    }
    nodes_.push_back(std::make_unique<TestServer>(ports_[i], args));
  }
  if (!WaitFormed()) throw std::runtime_error("cluster did not form\n" + Logs());
}

int TestCluster::AddNode(int seed) {
  ports_.push_back(DistinctFreePort());
  cports_.push_back(DistinctFreePort());
  std::string seed_addr = "127.0.0.1:" + std::to_string(cports_[seed]);
  std::vector<std::string> args = {"--cluster-port",   std::to_string(cports_.back()),
                                   "--cluster-nodes",  seed_addr,
                                   "--cluster-secret", kClusterSecret};
  args.insert(args.end(), extra_.begin(), extra_.end());
  nodes_.push_back(std::make_unique<TestServer>(ports_.back(), args));
  return size() - 1;
}

std::string TestCluster::NodeField(int from, int to, const std::string& field) {
  Client c = Connect(from, 5);
  Reply nodes = c.Cmd({"DYNIS", "NODES"});
  std::string want = "127.0.0.1:" + std::to_string(ports_[to]);
  for (size_t i = 0; i < nodes.Size(); i++) {
    if (MapField(nodes[i], "addr").Str() == want) return MapField(nodes[i], field).Str();
  }
  return "";
}

std::string TestCluster::LinkState(int from, int to) { return NodeField(from, to, "state"); }

std::string TestCluster::Membership(int from, int to) { return NodeField(from, to, "membership"); }

size_t TestCluster::KnownNodes(int i) {
  Client c = Connect(i, 5);
  return c.Cmd({"DYNIS", "NODES"}).Size();
}

bool TestCluster::WaitFormed(double timeout_s) {
  return WaitFor(
      [&] {
        for (int i = 0; i < size(); i++) {
          if (!nodes_[i]->running()) continue;
          Client c = Connect(i, 5);
          Reply nodes = c.Cmd({"DYNIS", "NODES"});
          if (nodes.Size() != static_cast<size_t>(size())) return false;
          for (int j = 0; j < size(); j++) {
            if (i == j || !nodes_[j]->running()) continue;
            // Links are made on first use; asking for the state creates it.
            if (LinkState(i, j) != "connected") return false;
          }
          Reply probe = c.Cmd({"EXISTS", "cluster-harness-probe"});
          if (probe.IsError()) return false;  // CLUSTERDOWN while forming
        }
        return true;
      },
      timeout_s);
}

std::vector<int> TestCluster::Preflist(const std::string& key, int via) {
  Client c = Connect(via);
  Reply pl = c.Cmd({"DYNIS", "PREFLIST", key});
  std::vector<int> out;
  for (size_t i = 0; i < pl.Size(); i++) {
    std::string addr = MapField(pl[i], "addr").Str();
    for (int j = 0; j < size(); j++) {
      if (addr == "127.0.0.1:" + std::to_string(ports_[j])) out.push_back(j);
    }
  }
  return out;
}

std::vector<std::string> TestCluster::LocalValues(int i, const std::string& key) {
  Client c = Connect(i);
  Reply r = c.Cmd({"DYNIS", "LOCALCTX", key});
  std::vector<std::string> v = r[1].Strings();
  std::sort(v.begin(), v.end());
  return v;
}

std::string TestCluster::Logs(int lines) const {
  std::string out;
  for (size_t i = 0; i < nodes_.size(); i++) {
    out += "--- node " + std::to_string(i) + " (port " + std::to_string(ports_[i]) + ")\n" +
           nodes_[i]->LogTail(lines);
  }
  return out;
}

void TestCluster::WipeData(int i) {
  if (nodes_[i]->running()) throw std::runtime_error("WipeData: node is running");
  std::error_code ec;
  std::filesystem::remove_all(nodes_[i]->dir() + "/data", ec);
  if (ec) throw std::runtime_error("WipeData: " + ec.message());
}

std::string TestCluster::NodeId(int i) {
  Client c = Connect(i, 5);
  return MapField(c.Cmd({"DYNIS", "NODE"}), "node-id").Str();
}

long long TestCluster::SumInfoField(const std::string& field) {
  long long sum = 0;
  for (int i = 0; i < size(); i++) {
    if (!nodes_[i]->running()) continue;
    Client c = Connect(i, 5);
    sum += InfoField(c, field);
  }
  return sum;
}

}  // namespace dynis::test
