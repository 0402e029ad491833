// The node services command handlers see (commands/node_context.h), provided by one worker
// and its server. Cheap to make: Worker::ExecuteSpec builds one per command on its stack.
// Called on that worker's loop only.
#pragma once

#include "commands/node_context.h"

namespace dynis::server {

class Server;
class Worker;

class WorkerNodeContext final : public NodeContext {
 public:
  WorkerNodeContext(Server& server, Worker& worker) : server_(server), worker_(worker) {}

  Config& config() override;
  const std::string& node_id() const override;
  uint64_t epoch() const override;
  const std::string& run_id() const override;
  int64_t start_ms() const override;
  int64_t last_save_s() const override;
  const std::string& executable() const override;
  const std::string& config_file() const override;
  int connected_clients() const override;
  int io_threads() const override;
  int OwnerOf(uint32_t partition) const override;

  storage::Store& store() override;
  const kv::KeyspaceShared& keyspace_shared() const override;

  NodeStats stats() const override;
  void ResetStats() override;
  void CountKeyspaceLookup(bool hit) override;

  bool PauseOthers() override;
  void ResumeOthers() override;
  std::vector<ClientState*> ClientsOf(int loop) override;
  bool OnThisLoop(const ClientState* cl) const override;
  void CloseClient(ClientState* cl) override;

  void CommitTurn() override;
  void Execute(ClientState* cl, const CommandSpec* spec, const std::vector<std::string>& argv,
               proto::ReplyWriter* reply) override;

  Status FlushAll() override;
  void RequestShutdown() override;

  bool in_cluster() const override;
  std::shared_ptr<const cluster::ClusterView> cluster_view() const override;
  std::shared_ptr<const cluster::ClusterView> Meet(const cluster::Member& m) override;
  std::string LinkState(cluster::NodeId node) override;
  cluster::PeerJudgement Judgement(cluster::NodeId node) const override;
  replication::AaeBoard* aae_board() override;
  bool Formed(std::string* refusal) const override;

 private:
  Server& server_;
  Worker& worker_;
};

}  // namespace dynis::server
