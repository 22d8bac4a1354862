#pragma once
// Human and JSON renderings shared by the verbs.

#include "shared/json.hpp"
#include "dynmgr/worker_info.hpp"

#include <string>
#include <vector>

namespace dynmgr::cli {

void print_json(const json::value& v);
// A worker record in the `state --json` shape.
json::object worker_json(const WorkerInfo& r);
// "id: x\npid: 123\nstatus: running\n..." for `get`.
void print_record(const WorkerInfo& r);
// The `state` table, payloads cut to `width` columns.
void print_table(const InstanceInfo& h, const std::string& instance,
                 const std::vector<WorkerInfo>& workers, std::size_t width);
// `state --json`: {"name","manager","supervisor":{"pid"},"workers":[...]}.
json::object state_json(const InstanceInfo& h, const std::string& instance,
                        const std::vector<WorkerInfo>& workers);
std::string format_uptime(std::uint64_t started_ms, std::uint64_t now_ms);
// Terminal width of stdout, or 120 when it is not a terminal ($COLUMNS wins).
std::size_t terminal_width();

}  // namespace dynmgr::cli
