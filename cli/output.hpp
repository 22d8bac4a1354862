#pragma once
// Human and JSON renderings shared by the verbs.

#include <string>
#include <vector>

#include "dynmgr/worker_info.hpp"
#include "shared/json.hpp"
#include "shared/state_json.hpp"  // state_json, persistence_json

namespace dynmgr::cli {

void print_json(const json::value& v);
// A worker record in the `state --json` shape.
json::object worker_json(const WorkerInfo& r);
// "id: x\npid: 123\nstatus: running\n..." for `get`.
void print_record(const WorkerInfo& r);
// The `state` table, payloads cut to `width` columns.
void print_table(const InstanceInfo& h, const std::string& instance,
                 const std::vector<WorkerInfo>& workers, std::size_t width);
// One line for people: "state: /var/lib/dynmgr/NAME (ok)", "state: off (volatile)", ...
std::string persistence_line(const PersistenceStatus& p);
std::string format_uptime(std::uint64_t started_ms, std::uint64_t now_ms);
// Terminal width of stdout, or 120 when it is not a terminal ($COLUMNS wins).
std::size_t terminal_width();

}  // namespace dynmgr::cli
