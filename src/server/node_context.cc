#include "server/node_context.h"

#include "common/errors.h"

#include "server/server.h"

namespace dynis::server {

namespace {

// Every ClientState a handler is given is one of these (the connections of some worker).
Client* AsClient(ClientState* cl) { return static_cast<Client*>(cl); }

}  // namespace

Config& WorkerNodeContext::config() { return server_.config(); }
const std::string& WorkerNodeContext::node_id() const { return server_.node_id(); }
uint64_t WorkerNodeContext::epoch() const { return server_.epoch(); }
const std::string& WorkerNodeContext::run_id() const { return server_.run_id(); }
int64_t WorkerNodeContext::start_ms() const { return server_.start_ms(); }
int64_t WorkerNodeContext::last_save_s() const { return server_.last_save_s(); }
const std::string& WorkerNodeContext::executable() const { return server_.executable(); }
const std::string& WorkerNodeContext::config_file() const { return server_.config_file(); }
int WorkerNodeContext::connected_clients() const { return server_.connected_clients().load(); }
int WorkerNodeContext::io_threads() const { return server_.worker_count(); }
int WorkerNodeContext::OwnerOf(uint32_t partition) const { return server_.OwnerOf(partition); }

storage::Store& WorkerNodeContext::store() { return server_.store(); }
const kv::KeyspaceShared& WorkerNodeContext::keyspace_shared() const {
  return server_.keyspace_shared();
}

NodeStats WorkerNodeContext::stats() const {
  const Stats& st = server_.stats();
  NodeStats n;
  n.connections_received = st.connections_received.load();
  n.commands_processed = st.commands_processed.load();
  n.rejected_connections = st.rejected_connections.load();
  n.keyspace_hits = st.keyspace_hits.load();
  n.keyspace_misses = st.keyspace_misses.load();
  n.net_input_bytes = st.net_input_bytes.load();
  n.net_output_bytes = st.net_output_bytes.load();
  n.forwarded_commands = st.forwarded_commands.load();
  n.barriers = st.barriers.load();
  n.write_batches = st.write_batches.load();
  n.protocol_errors = st.protocol_errors.load();
  n.output_limit_disconnections = st.output_limit_disconnections.load();
  n.cluster_forwarded = st.cluster_forwarded.load();
  n.cluster_coordinated = st.cluster_coordinated.load();
  n.cluster_quorum_failures = st.cluster_quorum_failures.load();
  n.cluster_read_repairs = st.cluster_read_repairs.load();
  if (server_.cluster() != nullptr) n.peer_health_transitions = server_.cluster()->health_transitions();
  return n;
}

void WorkerNodeContext::ResetStats() { server_.stats().Reset(); }

void WorkerNodeContext::CountKeyspaceLookup(bool hit) {
  Stats& st = server_.stats();
  (hit ? st.keyspace_hits : st.keyspace_misses).fetch_add(1, std::memory_order_relaxed);
}

bool WorkerNodeContext::PauseOthers() { return server_.PauseOthers(worker_); }
void WorkerNodeContext::ResumeOthers() { server_.ResumeOthers(); }

std::vector<ClientState*> WorkerNodeContext::ClientsOf(int loop) {
  std::vector<ClientState*> out;
  for (const auto& [id, cl] : server_.worker(loop).clients()) out.push_back(cl);
  return out;
}

bool WorkerNodeContext::OnThisLoop(const ClientState* cl) const {
  return static_cast<const Client*>(cl)->worker() == &worker_;
}

void WorkerNodeContext::CloseClient(ClientState* cl) { worker_.CloseClient(AsClient(cl)); }

void WorkerNodeContext::CommitTurn() { worker_.CommitTurn(); }

void WorkerNodeContext::Execute(ClientState* cl, const CommandSpec* spec,
                                const std::vector<std::string>& argv, proto::ReplyWriter* reply) {
  worker_.ExecuteSpec(cl == nullptr ? nullptr : AsClient(cl), spec, argv, reply);
}

Status WorkerNodeContext::FlushAll() { return server_.FlushAll(); }
void WorkerNodeContext::RequestShutdown() { server_.RequestShutdown(); }

bool WorkerNodeContext::in_cluster() const { return server_.cluster() != nullptr; }

std::shared_ptr<const cluster::ClusterView> WorkerNodeContext::cluster_view() const {
  if (server_.cluster() == nullptr) return nullptr;
  return server_.cluster()->View();
}

std::shared_ptr<const cluster::ClusterView> WorkerNodeContext::Meet(const cluster::Member& m) {
  server_.cluster()->Learn({m});
  return server_.cluster()->View();
}

std::string WorkerNodeContext::LinkState(cluster::NodeId node) { return worker_.LinkState(node); }
bool WorkerNodeContext::Formed(std::string* refusal) const {
  ClusterState* cl = server_.cluster();
  size_t reached = 0;
  if (cl == nullptr || cl->Formed(NowMs(), &reached)) return true;
  *refusal = err::ClusterForming(reached, cl->seeds().size());
  return false;
}

replication::AaeBoard* WorkerNodeContext::aae_board() {
  return server_.cluster() != nullptr ? &server_.aae_board() : nullptr;
}

cluster::PeerJudgement WorkerNodeContext::Judgement(cluster::NodeId node) const {
  return server_.cluster()->Judgement(node);
}

}  // namespace dynis::server
